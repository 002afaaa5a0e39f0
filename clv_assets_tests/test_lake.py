"""DuckLake warehouse and Dagster storage on a real PostgreSQL server started here.

Cost: ~1 s to start the server (session), a few seconds per test; no model fits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import duckdb
import pytest

from clv_assets.lib.lake import LakeSettings, attach_lake
from clv_assets.lib.resources import warehouse_resource
from clv_assets.lib.warehouse import replace_account_rows, transaction
from clv_assets_tests.postgres_server import PostgresServer

ACCOUNTS = ["acct-a", "acct-b", "acct-c"]
ROWS = 2000


@pytest.fixture(scope="session")
def postgres():
    with PostgresServer() as server:
        yield server


@pytest.fixture
def lake(postgres, request) -> LakeSettings:
    name = f"lake_{request.node.name[5:25].lower().replace('-', '_')}"
    return LakeSettings(postgres.create_database(name), tempfile.mkdtemp(prefix="clv-lake-data-"))


def _write(lake: LakeSettings, account: str, version: int) -> None:
    with warehouse_resource("unused", lake).get_connection() as conn, transaction(conn):
        for table in ("features.rfm", "predictions.customers"):
            replace_account_rows(
                conn, table, account,
                "SELECT $account AS account, range AS customer_id, $version AS version FROM range($rows)",
                {"account": account, "version": version, "rows": ROWS},
            )


WRITER = textwrap.dedent('''
    import sys
    from clv_assets.lib.lake import LakeSettings
    from clv_assets_tests.test_lake import _write
    catalog, data, account, versions = sys.argv[1:]
    for version in range(1, int(versions) + 1):
        _write(LakeSettings(catalog, data), account, version)
''')


def test_concurrent_writers_of_one_table_lose_nothing_and_a_reader_sees_whole_writes(lake):
    for account in ACCOUNTS:
        _write(lake, account, 0)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, lake.catalog, lake.data, account, "4"], stderr=subprocess.PIPE)
        for account in ACCOUNTS
    ]
    reads = 0
    conn = duckdb.connect()
    attach_lake(conn, lake.catalog, lake.data, read_only=True)
    while any(p.poll() is None for p in procs) or reads == 0:
        conn.execute("BEGIN")  # one snapshot for both tables
        rows = conn.execute(
            "SELECT account, count(*), min(version), max(version) FROM features.rfm GROUP BY 1 ORDER BY 1"
        ).fetchall()
        preds = conn.execute(
            "SELECT account, count(*), min(version), max(version) FROM predictions.customers GROUP BY 1 ORDER BY 1"
        ).fetchall()
        conn.execute("COMMIT")
        # every account whole, at one version, the same in both tables (one transaction wrote them)
        assert [r[0] for r in rows] == ACCOUNTS
        assert all(r[1] == ROWS and r[2] == r[3] for r in rows)
        assert rows == preds
        reads += 1
    errors = [p.stderr.read().decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    final = conn.execute("SELECT account, count(*), min(version) FROM features.rfm GROUP BY 1 ORDER BY 1").fetchall()
    assert final == [(a, ROWS, 4) for a in ACCOUNTS]


KILLED = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from clv_assets.lib.lake import LakeSettings
    from clv_assets.lib.resources import warehouse_resource
    from clv_assets.lib.warehouse import replace_account_rows, transaction
    catalog, data, account, marker = sys.argv[1:]
    with warehouse_resource("unused", LakeSettings(catalog, data)).get_connection() as conn, transaction(conn):
        replace_account_rows(conn, "features.rfm", account,
                             "SELECT $account AS account, range AS customer_id, 99 AS version FROM range(10)",
                             {"account": account})
        Path(marker).touch()
        time.sleep(600)
''')


def test_killed_writer_leaves_the_previous_rows_and_releases_the_write_lock(lake, tmp_path):
    _write(lake, ACCOUNTS[0], 1)
    marker = tmp_path / "inside-write"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, lake.catalog, lake.data, ACCOUNTS[0], str(marker)])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    started = time.monotonic()
    _write(lake, ACCOUNTS[1], 1)  # the lock died with the killed session
    assert time.monotonic() - started < 20
    with warehouse_resource("unused", lake).get_connection() as conn:
        assert conn.execute(
            "SELECT count(*), min(version), max(version) FROM features.rfm WHERE account = $a", {"a": ACCOUNTS[0]}
        ).fetchone() == (ROWS, 1, 1)


def test_column_comments_are_kept_in_the_lake(lake):
    from clv_assets.lib.warehouse import apply_descriptions, table_descriptions

    table = "marts.account_summary"
    docs = table_descriptions(table)
    columns = ", ".join(f"NULL::VARCHAR AS {c}" for c in docs["columns"] if c != "account")
    with warehouse_resource("unused", lake).get_connection() as conn, transaction(conn):
        replace_account_rows(conn, table, "acct-a", f"SELECT $account AS account, {columns}", {"account": "acct-a"})
        apply_descriptions(conn, table)
    assert len(docs["columns"]) > 3
    conn = duckdb.connect()
    attach_lake(conn, lake.catalog, lake.data, read_only=True)
    stored = dict(conn.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = 'lake' AND table_name = $t",
        {"t": "account_summary"},
    ).fetchall())
    for column, text in docs["columns"].items():
        assert stored.get(column) == text.strip() or stored.get(column) == text


def test_dagster_instance_stores_runs_in_postgres(postgres, tmp_path, monkeypatch):
    import dagster as dg

    from clv_assets import settings

    postgres.create_database("dagster_runs")
    monkeypatch.setenv("CLV_DAGSTER_POSTGRES_URL", postgres.url("dagster_runs"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    settings.ensure_dagster_home()
    assert "postgres" in (tmp_path / "home" / "dagster.yaml").read_text()

    @dg.asset
    def one() -> int:
        return 1

    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([one], instance=instance)
        assert result.success
    assert postgres.psql(f"SELECT status FROM runs WHERE run_id = '{result.run_id}'", "dagster_runs").strip() == "SUCCESS"
