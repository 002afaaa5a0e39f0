"""The built wheel works outside the repository: it ships sql/ and runs the demo end to end.

Builds the sdist and, from it, the wheel (as a release would), installs the wheel with the
pinned dependencies into a new virtual environment and runs the installed ``clv-assets``
from a folder outside the repository, with nothing of the checkout on the import path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
SQL = REPO / "sql"


def _uv() -> str:
    """The uv of this environment (`make setup` installs it there): its cache holds the pins."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not installed (make setup installs it into .venv)")
    return uv


def _run(args: list, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([_uv(), "build", "--quiet", "--python", sys.executable, "--out-dir", dist, REPO], cwd=dist)
    (built,) = dist.glob("clv_assets-*.whl")
    return built


def test_wheel_ships_every_sql_and_yaml_file(wheel):
    expected = {
        f"clv_assets/sql/{path.relative_to(SQL).as_posix()}"
        for path in SQL.rglob("*")
        if path.suffix in {".sql", ".yaml"}
    }
    assert len(expected) > 40
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    assert expected <= shipped, sorted(expected - shipped)


def test_installed_wheel_runs_the_demo_outside_the_repository(wheel, tmp_path):
    uv, venv, work = _uv(), tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    _run([uv, "venv", "--quiet", "--python", sys.executable, venv], cwd=work)
    python = venv / "bin" / "python"
    _run([uv, "pip", "install", "--quiet", "--python", python, "-r", REPO / "requirements.lock", wheel], cwd=work)

    # the compile caches (PYTENSOR_FLAGS, NUMBA_CACHE_DIR) pass through; the checkout does not
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(
        CLV_WAREHOUSE=str(work / "warehouse.duckdb"),
        CLV_LANDING_DIR=str(work / "landing"),
        DAGSTER_HOME=str(work / "dagster_home"),
    )
    located = _run([python, "-c", "import clv_assets; print(clv_assets.__file__)"], cwd=work, env=env)
    assert Path(located.stdout.strip()).is_relative_to(venv), located.stdout

    cli = venv / "bin" / "clv-assets"
    _run([cli, "demo", "--accounts", "1", "--customers", "150"], cwd=work, env=env)
    _run([cli, "materialize"], cwd=work, env=env, timeout=900)

    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as conn:
        customers, predicted, segmented = conn.execute(
            "SELECT (SELECT count(*) FROM features.rfm), (SELECT count(p_alive) FROM predictions.customers), "
            "(SELECT count(*) FROM marts.customer_segments)"
        ).fetchone()
    assert customers > 100 and predicted == customers  # the account was fitted: every customer predicted
    assert segmented > 0  # segments.yaml was read from the installed package
