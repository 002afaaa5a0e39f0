"""The DuckLake warehouse backend: catalog in PostgreSQL, data as Parquet files.

Set ``CLV_DUCKLAKE_CATALOG`` (libpq connection string of the catalog database, e.g.
``host=db port=5432 user=clv dbname=clv_lake``) and ``CLV_DUCKLAKE_DATA`` (a directory
or object-store URL every worker can reach) and every asset reads and writes the lake,
attached as ``lake`` and made the default catalog, so the SQL files, schemas and table
names are the embedded file's.

Writers: DuckLake checks conflicts at commit and aborts one of two concurrent
transactions that delete from and insert into the same table, even for different
accounts (measured: 25 of 40 commits of 4 processes aborted). Writes therefore take a
PostgreSQL advisory lock on the catalog database for the length of one write
transaction (:func:`lake_write_lock`): milliseconds to seconds, never while a model
samples, and released by PostgreSQL when a killed process's session ends. Reads take
no lock: each DuckLake transaction reads one snapshot.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import duckdb

from clv_assets.lib.errors import WarehouseBusy

LAKE_CATALOG = "lake"
EXTENSIONS = {"postgres_scanner": "duckdb_extension_postgres_scanner", "ducklake": "duckdb_extension_ducklake"}
# pg_advisory_lock key of the lake's write lock (any fixed 64-bit number; "clvlake!")
WRITE_LOCK_KEY = 0x636C766C616B6521


DEFAULT_LOCK_TIMEOUT_SECONDS = 900.0


def lock_timeout_seconds() -> float:
    """Seconds to wait for the warehouse file or the lake's write lock (``CLV_WAREHOUSE_LOCK_TIMEOUT``)."""
    return float(os.environ.get("CLV_WAREHOUSE_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT_SECONDS))


class LakeSettings(NamedTuple):
    catalog: str
    data: str


class LakeSettingError(ValueError):
    """Half of the lake settings, or an unusable value."""


def lake_settings() -> LakeSettings | None:
    """``CLV_DUCKLAKE_CATALOG`` and ``CLV_DUCKLAKE_DATA``, or None (the embedded file)."""
    catalog = os.environ.get("CLV_DUCKLAKE_CATALOG", "").strip()
    data = os.environ.get("CLV_DUCKLAKE_DATA", "").strip()
    if not catalog and not data:
        return None
    if not (catalog and data):
        raise LakeSettingError("set both CLV_DUCKLAKE_CATALOG and CLV_DUCKLAKE_DATA (or neither)")
    if "://" not in data:
        data = str(Path(data).absolute())
    return LakeSettings(catalog, data)


def load_extensions(conn: duckdb.DuckDBPyConnection) -> None:
    """Load DuckLake and postgres from the bundled wheels; without them, DuckDB's own
    ``INSTALL`` (which needs the internet, once per machine)."""
    for name, module in EXTENSIONS.items():
        spec = importlib.util.find_spec(module)
        bundled = (
            next(Path(spec.submodule_search_locations[0]).rglob(f"{name}.duckdb_extension"), None) if spec else None
        )
        if bundled is not None:
            conn.execute(f"LOAD '{_quoted(str(bundled))}'")
        else:
            conn.execute(f"INSTALL {name}")
            conn.execute(f"LOAD {name}")


def attach_lake(
    conn: duckdb.DuckDBPyConnection, catalog: str, data: str, alias: str = LAKE_CATALOG, read_only: bool = False
) -> None:
    """ATTACH the lake as ``alias`` and USE it (the settings come from the operator, not from users)."""
    load_extensions(conn)
    if "://" not in data:
        Path(data).mkdir(parents=True, exist_ok=True)
    options = f"DATA_PATH '{_quoted(data)}'" + (", READ_ONLY" if read_only else "")
    conn.execute(f"ATTACH 'ducklake:postgres:{_quoted(catalog)}' AS {alias} ({options})")
    conn.execute(f"USE {alias}")


_INSTANCES: dict[tuple, duckdb.DuckDBPyConnection] = {}
_INSTANCES_LOCK = threading.Lock()


@contextmanager
def lake_connection(catalog: str, data: str, config: dict | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose current database is the lake.

    Loading the extensions and attaching the lake cost ~1.8 s per new DuckDB instance
    (measured 2026-11-29), and an asset run opens dozens of connections, so each
    process keeps one in-memory instance with the lake attached and hands out cursors
    of it: each has its own transactions and temp tables, like a new connection.
    """
    key = (os.getpid(), catalog, data, tuple(sorted((config or {}).items())))
    with _INSTANCES_LOCK:
        root = _INSTANCES.get(key)
        if root is None:
            root = duckdb.connect(":memory:", config=config or {})
            try:
                attach_lake(root, catalog, data)
            except BaseException:
                root.close()
                raise
            _INSTANCES[key] = root
        conn = root.cursor()
    try:
        conn.execute(f"USE {LAKE_CATALOG}")
        yield conn
    finally:
        conn.close()


def lake_catalog_of(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The catalog conninfo when the connection's current database is a DuckLake on PostgreSQL."""
    row = conn.execute(
        "SELECT type, path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if row is None or row[0] != "ducklake" or not str(row[1]).startswith("postgres:"):
        return None
    return str(row[1]).removeprefix("postgres:")


@contextmanager
def lake_write_lock(catalog: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the lake's write lock (a PostgreSQL session advisory lock) in this block."""
    import psycopg2  # with dagster-postgres; only lake mode needs it

    pg = psycopg2.connect(catalog)
    try:
        pg.autocommit = True
        with pg.cursor() as cur:
            cur.execute("SET lock_timeout = %s", (f"{int(timeout_seconds * 1000)}ms",))
            try:
                cur.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK_KEY,))
            except psycopg2.errors.LockNotAvailable:
                raise WarehouseBusy(f"lake write lock held by another writer for {timeout_seconds:.0f} s") from None
        yield
    finally:
        pg.close()  # ends the session, which releases the lock


def _quoted(text: str) -> str:
    return text.replace("'", "''")
