"""A data folder (warehouse, landing, Dagster instance under one folder, as the Makefile
sets them) is portable: its ``dagster.yaml`` names no path, so a copy run by
``clv-assets materialize`` and served by ``dg dev`` keeps its runs in its own instance and
leaves the folder it was copied from untouched."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import clv_assets
from clv_assets.cli import main
from clv_assets_tests.test_webserver import ui_server

PROJECT = Path(clv_assets.__file__).resolve().parent.parent
RUNS = """
{
  runsOrError {
    __typename
    ... on Runs { results { runId } }
  }
}
"""


def _use(folder: Path, monkeypatch) -> None:
    """Point the settings at ``folder`` (as the Makefile does for ``data/``)."""
    monkeypatch.setenv("CLV_WAREHOUSE", str(folder / "warehouse.duckdb"))
    monkeypatch.setenv("CLV_LANDING_DIR", str(folder / "landing"))
    monkeypatch.setenv("DAGSTER_HOME", str(folder / "dagster_home"))


def _files(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder``: modification time (ns) and content hash."""
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _run_ids(home: Path) -> set[str]:
    """The runs stored in the SQLite files of the instance folder ``home`` (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{home / 'history' / 'runs.db'}?mode=ro", uri=True)) as conn:
        return {run_id for (run_id,) in conn.execute("SELECT run_id FROM runs")}


def test_a_copied_data_folder_is_an_instance_of_its_own(tmp_path, monkeypatch, capsys):
    """~1-2 min, mostly dg dev loading the code location. One 30-customer account (too small
    to fit: no sampling) is enough: every run writes the instance and the warehouse."""
    for name in ("CLV_SERVING", "CLV_DAGSTER_POSTGRES_URL", "CLV_DUCKLAKE_CATALOG", "CLV_DUCKLAKE_DATA"):
        monkeypatch.delenv(name, raising=False)
    original, copy = tmp_path / "data", tmp_path / "copied" / "data"
    _use(original, monkeypatch)
    assert main(["demo", "--accounts", "1", "--customers", "30", "--seed", "5"]) == 0
    assert main(["materialize"]) == 0
    config = (original / "dagster_home" / "dagster.yaml").read_text()
    assert "/" not in config, config  # no path at all, let alone the folder's own
    original_runs = _run_ids(original / "dagster_home")
    assert original_runs
    before = _files(original)

    shutil.copytree(original, copy)
    _use(copy, monkeypatch)
    capsys.readouterr()
    assert main(["materialize"]) == 0
    assert str(original) not in capsys.readouterr().out
    copy_runs = _run_ids(copy / "dagster_home")
    new_runs = copy_runs - original_runs
    assert original_runs < copy_runs  # the copy's history goes on in the copy's files

    dg_dev = [str(Path(sys.executable).with_name("dg")), "dev", "-w", "workspace.yaml"]  # what `make ui` runs
    with ui_server(dg_dev, dict(os.environ), tmp_path / "dg_dev.log", cwd=PROJECT) as server:
        served = server.graphql(RUNS)["runsOrError"]
    assert served["__typename"] == "Runs"
    assert new_runs <= {run["runId"] for run in served["results"]}

    # nothing of the original folder was written, by the CLI or by dg dev
    assert _files(original) == before
    assert _run_ids(original / "dagster_home") == original_runs
