"""The serving copy: the DuckDB file BI tools connect to.

DuckDB lets one process hold a file read-write and locks every other process out, so a
BI tool holding the warehouse open would block materialisations, and a materialisation
would make the BI tool fail. BI tools therefore read a separate file, the serving copy
(``settings.serving_path``), which no materialisation ever opens.

After an account's run succeeds, :func:`publish_accounts` copies that account's rows of
every warehouse table into a new version of the serving file and swaps it in with an
atomic rename:

- a BI connection that is open keeps reading the file it opened (a consistent snapshot);
  new connections see the new version; nobody waits for anybody;
- an account appears in the serving copy only as a whole successful run left it: a run
  in progress, failed or killed halfway has changed the warehouse but not the serving
  copy, which keeps the account's previous rows;
- a publish that dies halfway leaves a stray temporary file, never a half-written
  serving file.

Publishing holds the warehouse lock, so it never sees a write in progress and two
publishers never lose each other's accounts. With a DuckLake warehouse (``lib/lake.py``)
the copy reads one lake snapshot, and publishers of one serving file take its own lock.
"""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from clv_assets.lib.accounts import validate_account
from clv_assets.lib.resources import WarehouseResource
from clv_assets.lib.warehouse import apply_descriptions, read_sql, replace_account_rows, transaction

SERVING_CATALOG = "clv_serving"
PUBLISHED_ACCOUNTS = "serving.published_accounts"


def publish_accounts(
    warehouse: WarehouseResource, serving: Path, accounts: Iterable[str], run_id: str | None = None
) -> list[str]:
    """Replace ``accounts``' rows of every table in ``serving`` with the warehouse's; return them."""
    accounts = sorted({validate_account(a) for a in accounts})
    if not accounts:
        return []
    serving = Path(serving)
    serving.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving.with_name(f".{serving.name}.{os.getpid()}.tmp")
    # a lake takes no warehouse lock: publishers of one serving file take the file's own
    with _serving_lock(serving, warehouse), warehouse.get_connection() as conn:
        # we hold the lock, so no other publisher is running: leftovers are from crashes
        for stray in serving.parent.glob(f".{serving.name}.*.tmp*"):
            stray.unlink(missing_ok=True)
        if serving.exists():
            shutil.copyfile(serving, tmp)
        source = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(f"ATTACH '{_quoted(tmp)}' AS {SERVING_CATALOG}")
        try:
            conn.execute(f"USE {SERVING_CATALOG}")
            _copy_accounts(conn, source, accounts, run_id)
            conn.execute(f"CHECKPOINT {SERVING_CATALOG}")
        finally:
            conn.execute(f'USE "{source}"')
            conn.execute(f"DETACH {SERVING_CATALOG}")
        try:
            _fsync(tmp)
            os.replace(tmp, serving)
        finally:
            tmp.unlink(missing_ok=True)
    return accounts


def _copy_accounts(conn, source: str, accounts: Sequence[str], run_id: str | None) -> None:
    tables = conn.execute(
        "SELECT t.schema_name || '.' || t.table_name, bool_or(c.column_name = 'account') "
        "FROM duckdb_tables() t JOIN duckdb_columns() c USING (database_oid, table_oid) "
        "WHERE t.database_name = $db AND NOT t.temporary AND NOT t.internal GROUP BY ALL ORDER BY 1",
        {"db": source},
    ).fetchall()
    views = conn.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = $db AND NOT internal ORDER BY schema_name, view_name",
        {"db": source},
    ).fetchall()
    published_at = datetime.now(UTC)
    with transaction(conn):
        for table, per_account in tables:
            if not per_account:  # not partitioned by account: copied whole
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS {table.split(".")[0]}')
                conn.execute(f'CREATE OR REPLACE TABLE {table} AS SELECT * FROM "{source}".{table}')
                continue
            select = f'SELECT * FROM "{source}".{table} WHERE account = $account'
            for account in accounts:
                replace_account_rows(conn, table, account, select, {"account": account})
            apply_descriptions(conn, table)  # BI tools read the column comments here
        for account in accounts:
            replace_account_rows(
                conn, PUBLISHED_ACCOUNTS, account, read_sql(PUBLISHED_ACCOUNTS),
                {"account": account, "run_id": run_id, "published_at": published_at},
            )
        # views (BI marts) are bound by name, so the same definition reads the copy's tables
        for (sql,) in views:
            conn.execute(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))


def _serving_lock(serving: Path, warehouse: WarehouseResource):
    return FileLock(f"{serving}.lock", timeout=warehouse.lock_timeout) if warehouse.is_lake else nullcontext()


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
