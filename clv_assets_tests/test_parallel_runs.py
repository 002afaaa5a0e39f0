"""Accounts side by side in one process (``clv-assets materialize --parallel``, the default
on two cores): the same tables as one account at a time, each run's output in its own
compute log, and no logging reset per run (decision 0040)."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from clv_assets.demo import write_demo_accounts

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("clv-assets"))


def _compare_outputs():
    spec = importlib.util.spec_from_file_location("compare_outputs", ROOT / "scripts" / "compare_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _materialize(root: Path, parallel: int, as_of: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CLV_WAREHOUSE": str(root / "warehouse.duckdb"),
        "CLV_LANDING_DIR": str(root / "landing"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    env.pop("CLV_SERVING", None)
    return subprocess.run([CLI, "materialize", "--parallel", str(parallel), "--as-of", as_of],
                          env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory) -> dict:
    """The same four accounts (default settings: NUTS fits) one at a time and two side by side."""
    base = tmp_path_factory.mktemp("parallel")
    truths = write_demo_accounts(base / "one" / "landing", n_accounts=4, n_customers=400, seed=11)
    shutil.copytree(base / "one" / "landing", base / "two" / "landing")
    as_of = (datetime.now(UTC).date() - timedelta(days=5)).isoformat()
    runs = {parallel: _materialize(base / name, parallel, as_of) for parallel, name in ((1, "one"), (2, "two"))}
    return {"base": base, "accounts": [t["account"] for t in truths], "runs": runs}


def test_two_accounts_side_by_side_store_what_one_at_a_time_stores(one_and_two):
    for parallel, run in one_and_two["runs"].items():
        assert run.returncode == 0, f"--parallel {parallel}:\n{run.stdout}\n{run.stderr}"
        assert run.stdout.count(": ok in ") == 4, run.stdout
    compare = _compare_outputs()
    conn = duckdb.connect()
    for name, folder in (("before", "one"), ("after", "two")):  # ATTACH takes no parameters; our own paths
        conn.execute(f"ATTACH '{one_and_two['base'] / folder / 'warehouse.duckdb'}' AS {name} (READ_ONLY)")
    fitted = conn.execute("SELECT count(DISTINCT account) FROM after.models.fits WHERE method = 'mcmc'").fetchone()[0]
    assert fitted == 4  # every account sampled by NUTS, two at a time
    problems = [p for account in one_and_two["accounts"] for table in compare.TABLES
                for p in compare.compare_table(conn, table, account, rtol=1e-9)]
    assert problems == []


def test_side_by_side_runs_overlap_and_each_is_a_run_of_its_own(one_and_two):
    instance = dg.DagsterInstance.from_config(str(one_and_two["base"] / "two" / "dagster_home"))
    records = instance.get_run_records(filters=dg.RunsFilter(job_name="clv_account_job"))
    runs = sorted((r.start_time, r.end_time, r.dagster_run.tags["dagster/partition"]) for r in records)
    assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 4
    assert runs[0][2] == one_and_two["accounts"][0]  # the first account runs alone
    assert runs[0][1] <= runs[1][0]
    # the next ones overlap: the second starts before the third ends (two at a time)
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(runs[1:]) for b in runs[i + 2:])


@pytest.mark.fast
def test_each_threads_output_goes_to_its_own_runs_log_and_to_the_terminal(tmp_path, capsys):
    from dagster._core.storage.compute_log_manager import ComputeIOType

    from clv_assets.lib.compute_logs import ThreadComputeLogManager

    manager = ThreadComputeLogManager(base_dir=str(tmp_path))
    terminal = sys.stdout
    started, go = threading.Barrier(2), threading.Barrier(2)

    def run(name: str) -> None:
        with manager.capture_logs([name, "compute_logs", "all"]):
            started.wait()  # both capture at once
            for i in range(50):
                print(f"{name} line {i}")
                print(f"{name} warning {i}", file=sys.stderr)
            go.wait()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sys.stdout is terminal  # the streams are put back once no run captures
    with manager.capture_logs(["run-c", "compute_logs", "all"]):
        assert sys.stdout.buffer is terminal.buffer  # what it does not capture is the terminal's
    for name in ("run-a", "run-b"):
        key = [name, "compute_logs", "all"]
        out = manager.get_log_data_for_type(key, ComputeIOType.STDOUT, 0, None)[0].decode().splitlines()
        err = manager.get_log_data_for_type(key, ComputeIOType.STDERR, 0, None)[0].decode().splitlines()
        assert out == [f"{name} line {i}" for i in range(50)]
        assert err == [f"{name} warning {i}" for i in range(50)]
        assert manager.is_capture_complete(key)
    captured = capsys.readouterr()
    assert captured.out.count(" line ") == 100 and captured.err.count(" warning ") == 100


@pytest.mark.fast
def test_a_run_start_leaves_the_process_logging_handlers_open(tmp_path, monkeypatch):
    """Dagster's instance reconfigured logging at every run start (closing every handler of
    the process): two runs side by side deadlocked on it. The project's instance does not."""
    from clv_assets import settings
    from clv_assets.lib.compute_logs import ThreadComputeLogManager

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    settings.ensure_dagster_home()
    instance = dg.DagsterInstance.get()
    assert isinstance(instance.compute_log_manager, ThreadComputeLogManager)
    handler = logging.FileHandler(tmp_path / "app.log")
    logging.getLogger("clv-test-app").addHandler(handler)
    try:

        @dg.op
        def say(context):
            context.log.info("hello")

        @dg.job
        def tiny():
            say()

        assert tiny.execute_in_process(instance=instance).success
        assert handler.stream is not None  # not closed
        assert instance.get_yaml_python_handlers() == []
    finally:
        logging.getLogger("clv-test-app").removeHandler(handler)
        handler.close()


def test_accounts_that_create_the_tables_side_by_side_all_succeed(tmp_path, monkeypatch, capsys):
    """On a new warehouse the first account runs alone; made to start side by side anyway
    (every run creating the tables at once), all of them still succeed."""
    from clv_assets import account_runner

    write_demo_accounts(tmp_path / "landing", n_accounts=3, n_customers=150, seed=5)
    monkeypatch.setenv("CLV_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("CLV_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("CLV_SERVING", raising=False)
    monkeypatch.setattr(account_runner, "_has_job_tables", lambda warehouse: True)
    options = account_runner.RunOptions(as_of=datetime.now(UTC).date() - timedelta(days=5), method="map")
    assert account_runner.materialize([], options, parallel=3) == 0
    out = capsys.readouterr().out
    assert out.count(": ok in ") == 3, out
    with duckdb.connect(str(tmp_path / "warehouse.serving.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(DISTINCT account) FROM marts.account_summary").fetchone()[0] == 3


def _run_here_with(run_account, accounts: list[str], tmp_path, monkeypatch) -> list[str]:
    """The runner's ``_run_here`` on a warehouse that has the job's tables, two side by side,
    each run being ``run_account`` instead of a Dagster run: the runner's control flow."""
    from clv_assets import account_runner, settings

    monkeypatch.setenv("CLV_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    settings.ensure_dagster_home()
    monkeypatch.setattr(account_runner, "_run_account", run_account)
    monkeypatch.setattr(account_runner, "_has_job_tables", lambda warehouse: True)
    return account_runner._run_here(dg.DagsterInstance.get(), None, accounts, {}, parallel=2)


@pytest.mark.fast
def test_a_run_that_met_a_catalog_conflict_runs_again_alone_after_the_others(tmp_path, monkeypatch):
    from clv_assets import account_runner

    calls = []

    def run_account(instance, job, account, run_config, counter):
        calls.append((account, threading.current_thread().name))
        conflict = account == "b" and sum(a == "b" for a, _ in calls) == 1
        return f"raw_orders: TransactionContext Error: {account_runner.CATALOG_CONFLICT} on create" if conflict else None

    assert _run_here_with(run_account, ["a", "b", "c"], tmp_path, monkeypatch) == []
    assert sorted(a for a, _ in calls[:3]) == ["a", "b", "c"]  # side by side in the pool's threads
    assert all(name.startswith("account-run") for _, name in calls[:3])
    assert calls[3] == ("b", threading.main_thread().name)  # then again, alone


@pytest.mark.fast
def test_ctrl_c_lets_the_runs_in_progress_end_and_starts_no_other(tmp_path, monkeypatch):
    import time

    started = []

    def run_account(instance, job, account, run_config, counter):
        started.append(account)
        if account == "a":
            raise KeyboardInterrupt  # what the main thread gets on Ctrl-C, here from a run
        time.sleep(1.0)  # long beside the main thread's cancel, even on a loaded machine

    with pytest.raises(KeyboardInterrupt):
        _run_here_with(run_account, list("abcdefgh"), tmp_path, monkeypatch)
    assert len(started) <= 3 and "h" not in started  # the queued accounts never started
