"""Cost of opening a lake connection and of one small write, on a PostgreSQL server of its own.

    python scripts/lake_connection_bench.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clv_assets.lib.lake import LakeSettings, attach_lake  # noqa: E402
from clv_assets.lib.resources import warehouse_resource  # noqa: E402
from clv_assets.lib.warehouse import replace_account_rows, transaction  # noqa: E402
from clv_assets_tests.postgres_server import PostgresServer  # noqa: E402

ROWS = "SELECT $a AS account, range AS id, 1.0 AS x FROM range(300)"


def timed(label: str, fn, n: int = 5) -> None:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    print(f"{label}: {(time.perf_counter() - started) / n * 1000:.0f} ms")


def main() -> None:
    with PostgresServer() as pg:
        lake = LakeSettings(pg.create_database("bench"), tempfile.mkdtemp(prefix="clv-lake-bench-"))
        resource = warehouse_resource("unused", lake)

        def fresh_instance():
            conn = duckdb.connect()
            attach_lake(conn, lake.catalog, lake.data)
            conn.close()

        def pooled():
            with resource.get_connection():
                pass

        def write(conn):
            with transaction(conn):
                replace_account_rows(conn, "s.t", "a", ROWS, {"a": "a"})

        timed("new DuckDB instance + load extensions + ATTACH", fresh_instance)
        timed("get_connection (process's lake instance, a cursor)", pooled)
        with resource.get_connection() as conn:
            timed("write 300 rows in one locked transaction", lambda: write(conn))
            timed("SELECT count(*) (one catalog snapshot)", lambda: conn.execute("SELECT count(*) FROM s.t").fetchall())


if __name__ == "__main__":
    main()
