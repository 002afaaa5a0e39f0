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
from contextlib import contextmanager, nullcontext
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from clv_assets import settings
from clv_assets.lib.accounts import validate_account
from clv_assets.lib.resources import WarehouseResource
from clv_assets.lib.warehouse import apply_descriptions, read_sql, replace_account_rows, replace_table, transaction

SERVING_CATALOG = "clv_serving"
OLD_SERVING_CATALOG = "clv_serving_before"
PUBLISHED_ACCOUNTS = "serving.published_accounts"


def publish(warehouse: WarehouseResource, accounts: Iterable[str], run_id: str | None = None) -> tuple[list[str], Path]:
    """Publish ``accounts`` in the configured layout (``settings.serving_layout``): into the
    single serving copy, or each into its own file. Returns them and where they went."""
    # a lake has no warehouse file: the serving files' default place is then the settings'
    beside = None if warehouse.is_lake or warehouse.database == ":memory:" else Path(warehouse.database)
    if settings.serving_layout() == "per-account":
        folder = settings.serving_dir(beside)
        return publish_account_files(warehouse, folder, accounts, run_id), folder
    serving = settings.serving_path(beside)
    return publish_accounts(warehouse, serving, accounts, run_id), serving


def publish_account_files(
    warehouse: WarehouseResource, folder: Path, accounts: Iterable[str], run_id: str | None = None
) -> list[str]:
    """Replace ``<folder>/<account>.duckdb`` of each of ``accounts`` with a new file holding
    only that account's rows of every table split by account (tables of no account, such as
    the pooled prior learnt from several accounts, stay out). Each file is built beside its
    destination and renamed into place: a reader that has it open keeps the whole old
    account, a new connection gets the whole new one."""
    accounts = sorted({validate_account(a) for a in accounts})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _serving_lock(folder / "accounts", warehouse), warehouse.get_connection() as conn:
        source = conn.execute("SELECT current_database()").fetchone()[0]
        tables = [(table, True) for table, per_account in _tables(conn, source) if per_account]
        for account in accounts:
            target = folder / f"{account}.duckdb"
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            with _swapped_in(conn, source, tmp, target):
                _copy_accounts(conn, source, tables, [account], run_id)
    return accounts


@contextmanager
def _swapped_in(conn, source: str, tmp: Path, target: Path):
    """Attach ``tmp`` as the current catalog for the block, then write it out and rename it
    over ``target`` (atomic: readers see the whole old or the whole new file)."""
    conn.execute(f"ATTACH '{_quoted(tmp)}' AS {SERVING_CATALOG}")
    try:
        conn.execute(f"USE {SERVING_CATALOG}")
        yield
        conn.execute(f"CHECKPOINT {SERVING_CATALOG}")
    finally:
        conn.execute(f'USE "{source}"')
        conn.execute(f"DETACH {SERVING_CATALOG}")
    try:
        _fsync(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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
        source = conn.execute("SELECT current_database()").fetchone()[0]
        tables = _tables(conn, source)
        on_disk = not warehouse.is_lake and warehouse.database != ":memory:"
        whole_file = on_disk and _copying_the_file_is_cheaper(conn, source, tables, serving, accounts)
        if whole_file:
            # the published accounts hold most of the rows: start from a byte copy of the
            # warehouse (seconds for gigabytes) and put the other accounts back as the
            # serving copy has them, instead of inserting every published row again
            conn.execute(f'CHECKPOINT "{source}"')  # we hold the lock: nothing writes meanwhile
            shutil.copyfile(warehouse.database, tmp)
        elif serving.exists():
            shutil.copyfile(serving, tmp)
        with _swapped_in(conn, source, tmp, serving):
            if whole_file:
                _restore_other_accounts(conn, tables, serving, accounts, run_id)
            else:
                _copy_accounts(conn, source, tables, accounts, run_id)
            # BI tools read the comments here: every table described, whichever way it came
            # (a byte copy, CREATE TABLE AS, a warehouse from before a description changed)
            for table, _ in _tables(conn, SERVING_CATALOG):
                apply_descriptions(conn, table)
    return accounts


def _tables(conn, database: str) -> list[tuple[str, bool]]:
    """(schema.table, has an account column) of every table of ``database``."""
    return conn.execute(
        "SELECT t.schema_name || '.' || t.table_name, bool_or(c.column_name = 'account') "
        "FROM duckdb_tables() t JOIN duckdb_columns() c USING (database_oid, table_oid) "
        "WHERE t.database_name = $db AND NOT t.temporary AND NOT t.internal GROUP BY ALL ORDER BY 1",
        {"db": database},
    ).fetchall()


def _copying_the_file_is_cheaper(conn, source: str, tables, serving: Path, accounts: Sequence[str]) -> bool:
    """Whether the published accounts' rows outnumber the rows of the other accounts, which
    the whole-file path copies back from the current serving copy."""
    published = sum(
        conn.execute(f'SELECT count(*) FROM "{source}".{table} WHERE list_contains($a, account)', {"a": list(accounts)})
        .fetchone()[0]
        for table, per_account in tables if per_account
    )
    if not serving.exists():
        return published > 0
    others = 0
    with _attached(conn, serving, OLD_SERVING_CATALOG):
        for table, per_account in _tables(conn, OLD_SERVING_CATALOG):
            if per_account:
                others += conn.execute(
                    f"SELECT count(*) FROM {OLD_SERVING_CATALOG}.{table} WHERE NOT list_contains($a, account)",
                    {"a": list(accounts)},
                ).fetchone()[0]
    return published > others


def _restore_other_accounts(conn, tables, serving: Path, accounts: Sequence[str], run_id: str | None) -> None:
    """In a byte copy of the warehouse (attached and in use): every account that is not
    published gets its rows of the serving copy back (or none, if it was never published),
    so a run in progress or failed since shows nowhere; then the publication is recorded."""
    published_at = datetime.now(UTC)
    others = "NOT list_contains($accounts, account)"
    with _attached(conn, serving, OLD_SERVING_CATALOG) if serving.exists() else nullcontext(), transaction(conn):
        old = {table for table, _ in _tables(conn, OLD_SERVING_CATALOG)} if serving.exists() else set()
        for table, per_account in tables:
            if not per_account:
                continue
            conn.execute(f"DELETE FROM {table} WHERE {others}", {"accounts": list(accounts)})
            if table in old:
                conn.execute(
                    f"INSERT INTO {table} BY NAME SELECT * FROM {OLD_SERVING_CATALOG}.{table} WHERE {others}",
                    {"accounts": list(accounts)},
                )
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS {PUBLISHED_ACCOUNTS.split(".")[0]}')
        if PUBLISHED_ACCOUNTS in old:
            conn.execute(
                f"CREATE TABLE {PUBLISHED_ACCOUNTS} AS SELECT * FROM {OLD_SERVING_CATALOG}.{PUBLISHED_ACCOUNTS}"
            )
        _record_publication(conn, accounts, run_id, published_at)


@contextmanager
def _attached(conn, path: Path, name: str):
    conn.execute(f"ATTACH '{_quoted(path)}' AS {name} (READ_ONLY)")
    try:
        yield
    finally:
        conn.execute(f"DETACH {name}")


def _record_publication(conn, accounts: Sequence[str], run_id: str | None, published_at: datetime) -> None:
    for account in accounts:
        replace_account_rows(
            conn, PUBLISHED_ACCOUNTS, account, read_sql(PUBLISHED_ACCOUNTS),
            {"account": account, "run_id": run_id, "published_at": published_at},
        )


def _copy_accounts(conn, source: str, tables, accounts: Sequence[str], run_id: str | None) -> None:
    views = conn.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = $db AND NOT internal ORDER BY schema_name, view_name",
        {"db": source},
    ).fetchall()
    published_at = datetime.now(UTC)
    with transaction(conn):
        for table, per_account in tables:
            if not per_account:  # not partitioned by account: copied whole
                replace_table(conn, table, f'SELECT * FROM "{source}".{table}')
                continue
            select = f'SELECT * FROM "{source}".{table} WHERE account = $account'
            for account in accounts:
                replace_account_rows(conn, table, account, select, {"account": account})
        _record_publication(conn, accounts, run_id, published_at)
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
