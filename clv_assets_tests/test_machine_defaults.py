"""Defaults for large accounts on any machine: a new process that loads the definitions (the
CLI, the daemon, each run worker) does not pay for the modelling stack (PyMC and friends
load when a step that fits runs); DuckDB's memory limit and the instance's run concurrency
follow the machine."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.fast

HEAVY = ("pymc", "pytensor", "pymc_extras", "pymc_marketing", "arviz", "scipy.stats", "scipy.optimize", "matplotlib")


def test_definitions_import_without_the_modelling_stack():
    # ~5-10 s: one new interpreter importing dagster and the definitions
    code = f"import sys, clv_assets.definitions; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_duckdb_memory_limit_is_a_share_of_the_machine_unless_overridden(tmp_path, monkeypatch):
    from clv_assets.lib.resources import DUCKDB_MEMORY_SHARE, available_memory_bytes, warehouse_resource

    total = available_memory_bytes()
    # independent: the kernel's MemTotal (the cgroup limit can only lower it)
    mem_total_kb = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1])
    assert 0 < total <= mem_total_kb * 1024 * 1.01
    monkeypatch.delenv("CLV_DUCKDB_MEMORY_LIMIT", raising=False)
    warehouse = tmp_path / "w.duckdb"
    with warehouse_resource(warehouse).get_connection() as conn:
        (limit,) = conn.execute("SELECT current_setting('memory_limit')").fetchone()
    expected_gib = total * DUCKDB_MEMORY_SHARE / 2**30
    # DuckDB reports the limit rounded, in GiB/MiB units
    value, unit = limit.split()
    got_gib = float(value) / (1024 if unit == "MiB" else 1)
    assert got_gib == pytest.approx(expected_gib, rel=0.02) or expected_gib < 0.5
    monkeypatch.setenv("CLV_DUCKDB_MEMORY_LIMIT", "300MB")
    with warehouse_resource(warehouse).get_connection() as conn:
        (limit,) = conn.execute("SELECT current_setting('memory_limit')").fetchone()
    assert limit.startswith("286") or limit.startswith("300"), limit


def test_instance_runs_as_many_runs_at_once_as_there_are_cores(tmp_path, monkeypatch):
    import os

    import yaml

    from clv_assets import settings

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = settings.ensure_dagster_home()
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == len(os.sched_getaffinity(0))


_CACHES = """
import json, sys
import clv_assets, numba, pytensor
print(json.dumps([numba.config.CACHE_DIR, str(pytensor.config.base_compiledir), sys.prefix]))
"""


def test_compile_caches_default_to_the_environment_and_an_explicit_setting_wins(tmp_path):
    """`.venv/bin/clv-assets` started by hand shares the Makefile's warm caches."""
    import json
    import os
    import subprocess
    import sys

    bare = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTENSOR_FLAGS")}
    done = subprocess.run([sys.executable, "-c", _CACHES], env=bare, capture_output=True, text=True, check=True)
    numba_dir, pytensor_dir, prefix = json.loads(done.stdout.strip().splitlines()[-1])
    assert (numba_dir, pytensor_dir) == (os.path.join(prefix, "numba_cache"), os.path.join(prefix, "pytensor_cache"))
    chosen = {**bare, "NUMBA_CACHE_DIR": str(tmp_path / "n"), "PYTENSOR_FLAGS": f"floatX=float64,base_compiledir={tmp_path / 'p'}"}
    done = subprocess.run([sys.executable, "-c", _CACHES], env=chosen, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1])[:2] == [str(tmp_path / "n"), str(tmp_path / "p")]
