"""Incremental loads: a watermark per account (in ``raw.load_log``) and order-id upserts.

A source with an ``update_column`` is read from its last watermark minus ``lookback_hours``;
the rows read replace the stored rows of the same order ids (kept or rejected), so the stored
orders equal a full reload's (rows deleted at the source stay until the next full reload).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import duckdb

from clv_assets.lib.warehouse import read_sql, replace_account_rows, run_sql, table_exists

LOAD_LOG = "raw.load_log"
MERGED = ("raw.orders", "raw.rejected_orders")


def source_key(source) -> str:
    return hashlib.sha256(repr(source).encode()).hexdigest()[:16]


def stored_watermark(conn: duckdb.DuckDBPyConnection, account: str, key: str) -> datetime | None:
    """The latest watermark of ``account``'s loads of the source ``key`` (None: load it in full)."""
    if not table_exists(conn, LOAD_LOG):
        return None
    row = conn.execute(
        f"SELECT watermark, source_key FROM {LOAD_LOG} WHERE account = $account ORDER BY loaded_at DESC LIMIT 1",
        {"account": account},
    ).fetchone()
    return row[0] if row and row[1] == key else None


def files_present(files) -> str:
    """The landing files of a load as raw.load_log.files_present stores them."""
    return json.dumps([[f.path.name, f.size, f.modified_ns] for f in files])


def unchanged_files(conn: duckdb.DuckDBPyConnection, account: str, files) -> list[str]:
    """Names of ``files`` present, with the same size and modification time, at the
    account's last load of its landing folder (their stored rows need no re-reading)."""
    if not table_exists(conn, LOAD_LOG):
        return []
    row = conn.execute(
        f"SELECT files_present FROM {LOAD_LOG} WHERE account = $account ORDER BY loaded_at DESC LIMIT 1",
        {"account": account},
    ).fetchone()
    if not row or row[0] is None:
        return []
    before = {tuple(entry) for entry in json.loads(row[0])}
    return [f.path.name for f in files if (f.path.name, f.size, f.modified_ns) in before]


def carry_over(conn: duckdb.DuckDBPyConnection, account: str, names: list[str]) -> None:
    """Put the stored rows of the files ``names`` back into ``landing_rows`` as text, so they are
    validated again with the new files (duplicates across files, the account currency)
    exactly as a full reload would."""
    conn.execute(
        """
        INSERT INTO landing_rows
        SELECT source_file, source_row, order_id, customer_id, CAST(ordered_at AS VARCHAR),
               CAST(amount AS VARCHAR), currency, channel, status
        FROM raw.orders WHERE account = $account AND list_contains($names, source_file)
        UNION ALL
        SELECT source_file, source_row, order_id, customer_id, ordered_at, amount, currency, channel, status
        FROM raw.rejected_orders WHERE account = $account AND list_contains($names, source_file)
        """,
        {"account": account, "names": names},
    )


def read_since(watermark: datetime | None, lookback_hours: float) -> datetime | None:
    return watermark - timedelta(hours=lookback_hours) if watermark is not None else None


def stored_currency(conn: duckdb.DuckDBPyConnection, account: str) -> str | None:
    """The account's currency as its stored orders have it (an increment alone may not say)."""
    row = conn.execute("SELECT mode(currency) FROM raw.orders WHERE account = $account", {"account": account}).fetchone()
    return row[0] if row else None


def merge_account_rows(conn: duckdb.DuckDBPyConnection, account: str, params: dict) -> None:
    """Replace the stored rows (kept or rejected) of every order id read, add the rows read,
    and recount raw.landing_files from what is stored. Call inside a transaction."""
    for table in MERGED:
        conn.execute(
            f"DELETE FROM {table} WHERE account = $account AND trim(order_id) IN "
            "(SELECT trim(order_id) FROM landing_rows WHERE order_id IS NOT NULL)",
            {"account": account},
        )
        run_sql(conn, f"INSERT INTO {table} BY NAME {read_sql(table)}", params)
    recount = (
        "SELECT CAST($account AS VARCHAR) AS account, source_file, count(*) AS rows_landed, "
        "CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at FROM ("
        + " UNION ALL ".join(f"SELECT source_file FROM {t} WHERE account = $account" for t in MERGED)
        + ") GROUP BY source_file ORDER BY source_file"
    )
    replace_account_rows(conn, "raw.landing_files", account, recount, params)


def log_load(conn: duckdb.DuckDBPyConnection, account: str, params: dict) -> None:
    """Append the load's row to raw.load_log (no earlier row has this load time)."""
    replace_account_rows(conn, LOAD_LOG, account, read_sql(LOAD_LOG), params, scope={"loaded_at": params["loaded_at"]})
