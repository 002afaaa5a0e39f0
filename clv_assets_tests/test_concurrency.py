"""Concurrent runs, BI readers, failures and crashes, on real files and real processes.

The fleet fixture materialises small accounts (3 by default; CLV_FLEET_ACCOUNTS=9 for the
8 + 1 of the README's figures), then backfills them again as concurrent Dagster runs with
the multiprocess executor (one process per run, one per step) while one BI process holds
the serving file open and another keeps opening it anew, one account's landing files
having been broken in between.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from clv_assets.demo import account_name, write_demo_accounts
from clv_assets.lib.resources import warehouse_resource

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("clv-assets"))
# every run's steps share two cores: a larger fleet says the same, slower
N_ACCOUNTS = int(os.environ.get("CLV_FLEET_ACCOUNTS", "3"))
BROKEN = account_name(N_ACCOUNTS - 1)
TABLES = ["raw.orders", "raw.rejected_orders", "staging.customer_transactions", "features.rfm",
          "models.fits", "models.posterior_draws", "models.fit_status", "predictions.customers"]

# A BI tool. "hold": one read-only connection held open for the whole backfill and
# re-queried (it must keep its snapshot). "poll": a new connection each time (DuckDB shares
# one database instance per file within a process, so only a process without a held
# connection sees new versions), checking that no account is ever half published.
READER = textwrap.dedent('''
    import duckdb, json, sys, time
    from pathlib import Path
    mode, serving, stop, out = sys.argv[1:]
    SNAPSHOT = "SELECT account, min(as_of)::VARCHAR, max(as_of)::VARCHAR, count(*) FROM features.rfm GROUP BY ALL ORDER BY 1"
    # every account as one run left it: its fit status and features share the as-of date,
    # and it has a prediction and a profile row per customer
    TORN = """
        SELECT r.account FROM features.rfm r
        JOIN models.fit_status s USING (account)
        GROUP BY r.account
        HAVING count(DISTINCT r.as_of) > 1 OR bool_or(r.as_of <> s.as_of)
            OR count(DISTINCT r.customer_id) <> (SELECT count(*) FROM predictions.customers p WHERE p.account = r.account)
            OR count(DISTINCT r.customer_id) <> (SELECT count(*) FROM marts.customer_profile m WHERE m.account = r.account)
    """
    report = {"queries": 0, "changed": 0, "errors": [], "torn": [], "versions": set()}
    held = duckdb.connect(serving, read_only=True) if mode == "hold" else None
    first = held.execute(SNAPSHOT).fetchall() if held else None
    while not Path(stop).exists():
        try:
            if held:
                report["changed"] += held.execute(SNAPSHOT).fetchall() != first
            else:
                with duckdb.connect(serving, read_only=True) as fresh:
                    report["torn"] += [row[0] for row in fresh.execute(TORN).fetchall()]
                    report["versions"].add(str(fresh.execute(SNAPSHOT).fetchall()))
            report["queries"] += 1
        except Exception as exc:
            report["errors"].append(str(exc))
        time.sleep(0.2)
    report["versions"] = len(report["versions"])
    Path(out).write_text(json.dumps(report))
''')

# One Dagster run of the account job, out of process, with the job's multiprocess executor.
RUN = textwrap.dedent('''
    import json, sys, warnings
    warnings.filterwarnings("ignore")
    import dagster as dg
    from clv_assets.definitions import account_job
    account, config = sys.argv[1], json.loads(sys.argv[2])
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(account_job), instance, run_config=config,
                                tags={"dagster/partition": account})
        print(json.dumps({"run_id": result.run_id, "success": result.success}))
''')


@dataclass
class Fleet:
    root: Path
    env: dict
    warehouse: Path
    serving: Path
    accounts: list[str]
    before_as_of: str
    after_as_of: str
    serving_before: dict
    warehouse_before: dict
    runs: dict
    reader: dict
    seconds: float


def _fingerprints(path: Path, accounts: list[str]) -> dict:
    """(rows, order-independent hash of every column) per table and account."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for table in TABLES:
            for account in accounts:
                out[table, account] = tuple(conn.execute(
                    f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {table} t WHERE account = $a", {"a": account}
                ).fetchone())
        return out
    finally:
        conn.close()


def _instance(env: dict) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Fleet:
    from clv_assets.lib.run_config import account_run_config
    from clv_assets.defs.serving.sensors import serving_publish_sensor

    root = tmp_path_factory.mktemp("fleet")
    env = {
        **os.environ,
        "CLV_WAREHOUSE": str(root / "warehouse.duckdb"),
        "CLV_LANDING_DIR": str(root / "landing"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    env.pop("CLV_SERVING", None)
    truths = write_demo_accounts(root / "landing", n_accounts=N_ACCOUNTS, n_customers=150, seed=3)
    accounts = [t["account"] for t in truths]
    today = datetime.now(UTC).date()
    before, after = today - timedelta(days=40), today - timedelta(days=10)
    # the starting state, published: two CLI worker processes
    subprocess.run([CLI, "materialize", "--workers", "2", "--method", "map", "--as-of", before.isoformat()],
                   env=env, check=True, capture_output=True, text=True, cwd=ROOT)
    warehouse, serving = root / "warehouse.duckdb", root / "warehouse.serving.duckdb"
    serving_before = _fingerprints(serving, accounts)
    warehouse_before = _fingerprints(warehouse, [BROKEN])
    (root / "landing" / BROKEN / "orders_late.csv").write_text("order_id;customer;when\n1;2;yesterday\n")

    stop = root / "stop-readers"
    readers = {
        mode: subprocess.Popen([sys.executable, "-c", READER, mode, str(serving), str(stop), str(root / f"{mode}.json")])
        for mode in ("hold", "poll")
    }
    time.sleep(1.0)  # the readers have the serving file open before the runs start
    config = json.dumps(account_run_config(after, fit_method="map"))
    started = time.perf_counter()
    procs = {
        a: subprocess.Popen([sys.executable, "-c", RUN, a, config], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for a in accounts
    }
    instance = _instance(env)
    runs = {}
    resources = {"duckdb": warehouse_resource(warehouse)}
    # as each run ends, the daemon would evaluate the publish sensor: do exactly that
    while len(runs) < len(procs):
        for account, proc in procs.items():
            if account in runs or proc.poll() is None:
                continue
            runs[account] = json.loads(proc.stdout.read().strip().splitlines()[-1])
            run = instance.get_run_by_id(runs[account]["run_id"])
            if run.status == dg.DagsterRunStatus.SUCCESS:
                (event,) = [r.event_log_entry.dagster_event for r in instance.get_records_for_run(
                    run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS).records]
                context = dg.build_run_status_sensor_context(
                    sensor_name=serving_publish_sensor.name, dagster_event=event,
                    dagster_instance=instance, dagster_run=run, resources=resources,
                )
                serving_publish_sensor(context)
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    stop.touch()
    for reader in readers.values():
        reader.wait(timeout=60)
    reports = {mode: json.loads((root / f"{mode}.json").read_text()) for mode in readers}
    print(f"fleet: {len(accounts)} concurrent runs in {seconds:.0f} s")
    return Fleet(root, env, warehouse, serving, accounts, before.isoformat(), after.isoformat(),
                 serving_before, warehouse_before, runs, reports, seconds)


def _events(instance, run_id, event_type):
    return [r.event_log_entry for r in instance.get_records_for_run(run_id, of_type=event_type).records]


def test_concurrent_backfill_runs_succeed_without_lock_errors(fleet):
    instance = _instance(fleet.env)
    ok = sorted(a for a, r in fleet.runs.items() if r["success"])
    assert ok == sorted(a for a in fleet.accounts if a != BROKEN)
    for account, result in fleet.runs.items():
        run_id = result["run_id"]
        assert instance.get_run_by_id(run_id).tags["dagster/partition"] == account
        failures = [e.dagster_event.message or "" for e in _events(instance, run_id, dg.DagsterEventType.STEP_FAILURE)]
        assert not [m for m in failures if "lock" in m.lower() or "busy" in m.lower()]
        # the steps really ran in their own processes
        assert any("multiprocess executor" in (e.message or "") for e in _events(instance, run_id, dg.DagsterEventType.ENGINE_EVENT))
    with duckdb.connect(str(fleet.warehouse), read_only=True) as conn:
        as_of = dict(conn.execute("SELECT account, max(as_of)::VARCHAR FROM features.rfm GROUP BY ALL").fetchall())
    assert {a: as_of[a] for a in ok} == {a: fleet.after_as_of for a in ok}


def test_failing_account_fails_alone_without_retries_and_keeps_its_rows(fleet):
    instance = _instance(fleet.env)
    run_id = fleet.runs[BROKEN]["run_id"]
    (failure,) = _events(instance, run_id, dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "raw_orders"
    assert "orders_late.csv" in failure.dagster_event.step_failure_data.error.message
    assert not _events(instance, run_id, dg.DagsterEventType.STEP_UP_FOR_RETRY)  # a file cannot heal
    assert _fingerprints(fleet.warehouse, [BROKEN]) == fleet.warehouse_before


def test_bi_reader_is_never_blocked_and_never_sees_a_partial_account(fleet):
    hold, poll = fleet.reader["hold"], fleet.reader["poll"]
    assert hold["errors"] == [] and poll["errors"] == []
    assert hold["queries"] > 10 and poll["queries"] > 10
    assert hold["changed"] == 0  # the held connection kept its snapshot throughout
    assert poll["torn"] == []
    assert poll["versions"] >= 2  # new connections saw publishes land while runs went on


def test_serving_copy_has_each_successful_run_and_the_failed_account_unchanged(fleet):
    after = _fingerprints(fleet.serving, fleet.accounts)
    for table in TABLES:
        assert after[table, BROKEN] == fleet.serving_before[table, BROKEN]
    with duckdb.connect(str(fleet.serving), read_only=True) as conn:
        published = dict(conn.execute("SELECT account, run_id FROM serving.published_accounts").fetchall())
        as_of = dict(conn.execute("SELECT account, max(as_of)::VARCHAR FROM features.rfm GROUP BY ALL").fetchall())
    for account in fleet.accounts:
        if account == BROKEN:
            assert published[account] is None and as_of[account] == fleet.before_as_of  # from the CLI's publish
        else:
            assert published[account] == fleet.runs[account]["run_id"]
            assert as_of[account] == fleet.after_as_of
    assert not list(fleet.serving.parent.glob(".*.tmp*"))


KILLED_WRITER = textwrap.dedent('''
    import sys
    from pathlib import Path
    from clv_assets.lib.resources import warehouse_resource
    from clv_assets.lib.warehouse import replace_account_rows, transaction
    warehouse, account, marker = sys.argv[1:]

    def hold() -> bool:  # reached inside the second table's replace: signal, then wait to die
        Path(marker).touch()
        import time; time.sleep(600)
        return True

    with warehouse_resource(warehouse).get_connection() as conn:
        conn.create_function("hold", hold, [], "BOOLEAN", side_effects=True)
        with transaction(conn):
            # a large replacement first, so row groups reach the file before the commit
            replace_account_rows(conn, "raw.orders", account,
                                 "SELECT o.* FROM raw.orders o, range(300) WHERE o.account = $account",
                                 {"account": account})
            replace_account_rows(conn, "features.rfm", account,
                                 "SELECT * FROM features.rfm WHERE account = $account AND hold()",
                                 {"account": account})
''')


def test_process_killed_inside_a_write_leaves_every_table_as_it_was(workspace, tmp_path):
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(workspace.warehouse, warehouse)
    accounts = [t["account"] for t in workspace.truths]
    account = accounts[0]
    before = _fingerprints(warehouse, accounts)
    marker = tmp_path / "inside-write"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(warehouse), account, str(marker)])
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "writer ended before reaching the hook"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the killed process's locks died with it: this opens at once, and recovery drops the
    # uncommitted transaction
    started = time.monotonic()
    with warehouse_resource(warehouse).get_connection() as conn:
        assert time.monotonic() - started < 10
        (rows,) = conn.execute("SELECT count(*) FROM raw.orders WHERE account = $a", {"a": account}).fetchone()
    assert _fingerprints(warehouse, accounts) == before
    assert rows == before["raw.orders", account][0]


HOLDER = textwrap.dedent('''
    import duckdb, sys, time
    from pathlib import Path
    warehouse, held, release = sys.argv[1:]
    conn = duckdb.connect(warehouse)  # another program, not using the project's lock
    Path(held).touch()
    while not Path(release).exists():
        time.sleep(0.05)
    conn.close()
''')


def _hold_warehouse(warehouse: Path, tmp_path: Path):
    held, release = tmp_path / "held", tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse), str(held), str(release)])
    while not held.exists():
        assert proc.poll() is None
        time.sleep(0.05)
    return proc, release


def test_open_waits_for_another_process_instead_of_failing(workspace, tmp_path):
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(workspace.warehouse, warehouse)
    holder, release = _hold_warehouse(warehouse, tmp_path)
    with pytest.raises(duckdb.IOException, match="lock"):  # what DuckDB does on its own
        duckdb.connect(str(warehouse), read_only=True)
    threading.Timer(2.0, release.touch).start()
    started = time.monotonic()
    with warehouse_resource(warehouse).get_connection() as conn:
        waited = time.monotonic() - started
        assert conn.execute("SELECT count(*) FROM raw.orders").fetchone()[0] > 0
    holder.wait(timeout=30)
    assert waited >= 1.5


def test_transient_lock_failure_is_retried_by_the_job(workspace, tmp_path, monkeypatch):
    """Past the lock timeout the step fails as busy; the job's retry policy runs it again."""
    import shutil

    from clv_assets.definitions import build_defs
    from clv_assets.defs.ingestion.assets import LANDING_FILES, REJECTED_ORDERS
    from clv_assets.lib.keys import ACCOUNT_JOB, RAW_ORDERS

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(workspace.warehouse, warehouse)
    monkeypatch.setenv("CLV_WAREHOUSE_LOCK_TIMEOUT", "1")
    job = build_defs(warehouse=warehouse, landing_dir=workspace.landing).resolve_job_def(ACCOUNT_JOB)
    instance = dg.DagsterInstance.ephemeral()
    holder, release = _hold_warehouse(warehouse, tmp_path)

    def release_after_first_failure():  # the other program lets go once our step has given up
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.STEP_UP_FOR_RETRY), limit=1
        ):
            time.sleep(0.1)
        release.touch()

    watcher = threading.Thread(target=release_after_first_failure)
    watcher.start()
    account = workspace.truths[0]["account"]
    instance.add_dynamic_partitions("accounts", [account])
    result = job.execute_in_process(
        instance=instance, partition_key=account, asset_selection=[RAW_ORDERS, REJECTED_ORDERS, LANDING_FILES],
        raise_on_error=False,
    )
    watcher.join()
    holder.wait(timeout=30)
    assert result.success
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert retries
    errors = [e.event_specific_data.error for e in retries]
    messages = []
    for error in errors:
        while error is not None:
            messages.append(error.message)
            error = error.cause
    assert any("WarehouseBusy" in m and "held by another program" in m for m in messages)


OPENER = textwrap.dedent('''
    import sys
    from clv_assets.lib.errors import WarehouseBusy
    from clv_assets.lib.resources import warehouse_resource
    try:
        with warehouse_resource(sys.argv[1]).get_connection() as conn:
            print(conn.execute("SELECT count(*) FROM held_rows").fetchone()[0])
    except WarehouseBusy:
        print("busy")
''')


def _open_elsewhere(warehouse: Path) -> str:
    env = {**os.environ, "CLV_WAREHOUSE_LOCK_TIMEOUT": "1"}
    return subprocess.run([sys.executable, "-c", OPENER, str(warehouse)], env=env, capture_output=True,
                          text=True, check=True, timeout=120).stdout.strip()


def test_held_warehouse_is_one_instance_for_this_process_and_waited_for_by_others(tmp_path):
    """``hold_open`` (what ``clv-assets materialize`` does between runs): the process's
    connections are cursors of one open instance (committed rows shared, temp tables not);
    another process waits for the file while one of them is open (here past its 1 s
    timeout: busy); the rows written while held are then in the file."""
    from clv_assets.lib.resources import hold_open
    from clv_assets.lib.warehouse import transaction

    warehouse = tmp_path / "warehouse.duckdb"
    resource = warehouse_resource(warehouse)
    with hold_open(resource):
        with resource.get_connection() as first, transaction(first):
            first.execute("CREATE TABLE held_rows AS SELECT range AS i FROM range(5)")
        with resource.get_connection() as second, resource.get_connection() as third:
            assert second.execute("SELECT count(*) FROM held_rows").fetchone()[0] == 5
            third.execute("CREATE TEMP TABLE mine AS SELECT 1")  # a cursor's temp tables are its own
            assert second.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'mine'").fetchone()[0] == 0
            assert _open_elsewhere(warehouse) == "busy"
    assert _open_elsewhere(warehouse) == "5"


WRITER = textwrap.dedent('''
    import sys
    from clv_assets.lib.resources import warehouse_resource
    with warehouse_resource(sys.argv[1]).get_connection() as conn:
        conn.execute("INSERT INTO held_rows VALUES (42)")
    print("written")
''')


def test_held_warehouse_is_let_go_for_a_waiting_process(tmp_path):
    """A holding process (each ``clv-assets materialize`` process, workers too) lets go of
    the file once another process says it waits and the hold is ``MIN_HOLD_SECONDS`` old:
    at the end of a connection, and while no connection is open (the holder fits or
    predicts) without waiting for one. It takes the file again at its next connection and
    sees what the other process wrote. While a connection stays open the other one waits."""
    from clv_assets.lib.resources import MIN_HOLD_SECONDS, hold_open
    from clv_assets.lib.warehouse import transaction

    warehouse = tmp_path / "warehouse.duckdb"
    resource = warehouse_resource(warehouse)
    with hold_open(resource):
        with resource.get_connection() as conn, transaction(conn):
            conn.execute("CREATE TABLE held_rows AS SELECT range AS i FROM range(5)")
        with resource.get_connection() as conn:  # open: the writer waits however long
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(warehouse)], stdout=subprocess.PIPE, text=True)
            time.sleep(MIN_HOLD_SECONDS + 3.0)
            assert writer.poll() is None
        # no connection open now: the hold lets go by itself, no connection needs to end
        assert writer.wait(timeout=60) == 0 and writer.stdout.read().strip() == "written"
        with resource.get_connection() as conn:
            assert conn.execute("SELECT count(*), max(i) FROM held_rows").fetchone() == (6, 42)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(warehouse)], stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while writer.poll() is None and time.monotonic() < deadline:
            with resource.get_connection() as conn:  # busy: a connection's end lets it go
                conn.execute("SELECT 1").fetchall()
        assert writer.wait(timeout=60) == 0
        with resource.get_connection() as conn:
            assert conn.execute("SELECT count(*) FROM held_rows").fetchone() == (7,)
    assert not Path(f"{warehouse}.waiting").exists()


SMALL_COMMITS_THEN_KILLED = textwrap.dedent('''
    import os, signal, sys
    from clv_assets.lib.resources import hold_open, warehouse_resource
    from clv_assets.lib.warehouse import transaction
    resource = warehouse_resource(sys.argv[1])
    with hold_open(resource):
        for batch in range(40):  # a small account's commits, step after step
            with resource.get_connection() as conn, transaction(conn):
                conn.execute("CREATE TABLE IF NOT EXISTS small_rows (batch INTEGER, i BIGINT, note VARCHAR)")
                conn.execute("INSERT INTO small_rows SELECT $b, range, 'row ' || range FROM range(30000)", {"b": batch})
        os.kill(os.getpid(), signal.SIGKILL)  # before the hold ends and closes the file
''')


def test_small_commits_wait_in_the_wal_for_one_checkpoint_and_survive_a_kill(tmp_path):
    """A small account's commits do not each checkpoint (a checkpoint re-compresses the last
    row group of every table written, 0.5-0.7 s on a warehouse of many accounts): they stay
    in the write-ahead log up to ``CHECKPOINT_THRESHOLD``. Committed is still stored: a
    process killed before it closed the file loses none of them, the next open replays
    them, and its close checkpoints them into the file."""
    warehouse = tmp_path / "warehouse.duckdb"
    wal = Path(f"{warehouse}.wal")
    killed = subprocess.run([sys.executable, "-c", SMALL_COMMITS_THEN_KILLED, str(warehouse)], timeout=300)
    assert killed.returncode == -signal.SIGKILL
    # 40 commits of ~0.6 MB each: more than DuckDB's default threshold (16 MB), not checkpointed
    assert wal.stat().st_size > 16 * 2**20
    with warehouse_resource(warehouse).get_connection() as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT batch) FROM small_rows").fetchone() == (1_200_000, 40)
    assert not wal.exists()
    with warehouse_resource(warehouse).get_connection() as conn:
        assert conn.execute("SELECT count(*) FROM small_rows").fetchone() == (1_200_000,)


def test_held_warehouse_gives_back_its_cached_blocks_after_each_connection(tmp_path):
    """A held instance lets go of the table blocks it cached once a connection closes
    (the later steps of a large run peaked 1 GB higher without it), and keeps its
    configured memory limit."""
    import duckdb

    from clv_assets.lib.resources import hold_open
    from clv_assets.lib.warehouse import transaction

    resource = warehouse_resource(tmp_path / "warehouse.duckdb")
    with hold_open(resource):
        with resource.get_connection() as conn, transaction(conn):
            conn.execute("CREATE TABLE wide AS SELECT random() AS a, random() AS b, random() AS c FROM range(5000000)")
        with resource.get_connection() as conn:
            conn.execute("SELECT sum(a), sum(b), sum(c) FROM wide").fetchall()
            cached = conn.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
        with resource.get_connection() as conn:
            left = conn.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
            limit = conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert cached > 100e6 and left <= 64e6
    configured = duckdb.connect(config={"memory_limit": resource.connection_config["memory_limit"]})
    assert limit == configured.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_held_warehouse_keeps_rows_not_yet_checkpointed_in_memory(tmp_path):
    """Rows committed since the last checkpoint exist only in memory (and the WAL): giving
    back the cache after a connection leaves them, where evicting them wrote them to a
    temporary file on every connection of a small account's run."""
    from clv_assets.lib.resources import RELEASED_TO_BYTES, hold_open
    from clv_assets.lib.warehouse import transaction

    resource = warehouse_resource(tmp_path / "warehouse.duckdb")
    with hold_open(resource):
        for batch in range(30):
            with resource.get_connection() as conn, transaction(conn):
                conn.execute("CREATE TABLE IF NOT EXISTS small_rows (batch INTEGER, i BIGINT, note VARCHAR)")
                conn.execute("INSERT INTO small_rows SELECT $b, range, 'row ' || range FROM range(100000)", {"b": batch})
        with resource.get_connection() as conn:
            unsaved = conn.execute(
                "SELECT sum(memory_usage_bytes) FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'"
            ).fetchone()[0]
            spilled = conn.execute("SELECT count(*) FROM duckdb_temporary_files()").fetchone()[0]
            assert conn.execute("SELECT count(*) FROM small_rows").fetchone()[0] == 3_000_000
    assert unsaved > RELEASED_TO_BYTES and spilled == 0
