"""Shopify's orders export CSV -> one contract row per order (as text, for validation).

The export has one row per line item; the order-level fields (``Email``, ``Financial
Status``, ``Created at``, ``Total``, ``Currency``, ...) are filled on the first row of
each order only. Mapping:

- ``Name`` (``#1001``) -> order_id; ``Customer ID`` when the export has it, else ``Email``
  -> customer_id; ``Created at`` (``2024-01-05 10:00:00 -0500``) -> ordered_at (UTC);
  ``Total`` -> amount; ``Currency``; ``Source`` -> channel.
- ``Financial Status``: ``refunded`` -> refunded; ``voided`` and ``expired`` -> cancelled;
  ``partially_refunded`` -> completed with ``Refunded Amount`` subtracted; ``paid``,
  ``partially_paid``, ``authorized``, ``pending`` -> completed; a filled ``Cancelled at``
  -> cancelled; any other value is kept and rejected as unknown_status.

The row staged for an order is its first line with ``Created at`` filled (``source_row``
is that line's data-row number); a line without a ``Name`` is staged on its own and
rejected as missing_order_id, so no line is dropped silently.
"""

from __future__ import annotations

import glob as globbing
from pathlib import Path

import duckdb
import pyarrow as pa

from clv_assets.lib.sources import ShopifyExportSource, SourceError, _first_line, quoted_identifier

HEADERS = {
    "order_id": "Name",
    "customer_id": "Email",
    "ordered_at": "Created at",
    "amount": "Total",
    "currency": "Currency",
    "status": "Financial Status",
    "channel": "Source",
}
REQUIRED_HEADERS = ("order_id", "customer_id", "ordered_at", "amount", "currency", "status")
CUSTOMER_ID_HEADER = "Customer ID"
COMPLETED = ("paid", "partially_paid", "partially_refunded", "authorized", "pending")
CANCELLED = ("voided", "expired")
READER = "read_csv($path, all_varchar = true, header = true, delim = ',', quote = '\"', escape = '\"', comment = '')"


def read_shopify_export(source: ShopifyExportSource) -> tuple[pa.Table, list[str]]:
    """Every export file of ``source.path`` (a glob) as contract rows, and the files' names."""
    paths = sorted(Path(p) for p in globbing.glob(source.path) if not Path(p).name.startswith((".", "_")))
    if not paths:
        raise SourceError(f"shopify_export source {source.path}: no file matches")
    mem = duckdb.connect()
    try:
        mem.execute("SET TimeZone = 'UTC'")
        tables = [_read_file(mem, source, path) for path in paths]
    finally:
        mem.close()
    return pa.concat_tables(tables), [p.name for p in paths]


def _read_file(mem: duckdb.DuckDBPyConnection, source: ShopifyExportSource, path: Path) -> pa.Table:
    params = {"path": str(path)}
    try:
        present = [row[0] for row in mem.execute(f"DESCRIBE SELECT * FROM {READER}", params).fetchall()]
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot be read as a Shopify orders export ({_first_line(exc)})") from None
    header = {c: source.columns.get(c, h) for c, h in HEADERS.items()}
    missing = [header[c] for c in REQUIRED_HEADERS if header[c] not in present]
    if missing:
        raise SourceError(f"{path}: not a Shopify orders export, missing column(s) {', '.join(missing)}")

    def col(name: str | None) -> str:
        return f"nullif(trim({quoted_identifier(name)}), '')" if name in present else "CAST(NULL AS VARCHAR)"

    customer = header["customer_id"]
    if "customer_id" not in source.columns and CUSTOMER_ID_HEADER in present:
        customer_sql = f"coalesce({col(CUSTOMER_ID_HEADER)}, {col(customer)})"
    else:
        customer_sql = col(customer)
    status, total, refunded = col(header["status"]), col(header["amount"]), col("Refunded Amount")
    sql = f"""
    WITH lines AS (
        SELECT *, row_number() OVER () AS line FROM {READER}
    ),
    firsts AS (
        SELECT *, row_number() OVER (
            PARTITION BY coalesce({col(header["order_id"])}, '#line ' || line)
            ORDER BY ({col(header["ordered_at"])} IS NULL), line
        ) AS nth
        FROM lines
    )
    SELECT
        CAST($name AS VARCHAR) AS source_file,
        CAST(line AS BIGINT) AS source_row,
        {col(header["order_id"])} AS order_id,
        {customer_sql} AS customer_id,
        coalesce(
            CAST(try_strptime({col(header["ordered_at"])}, ['%Y-%m-%d %H:%M:%S %z', '%Y-%m-%d %H:%M %z']) AS VARCHAR),
            {col(header["ordered_at"])}
        ) AS ordered_at,
        CASE
            WHEN lower({status}) = 'partially_refunded' AND try_cast({total} AS DECIMAL(18, 4)) IS NOT NULL
                THEN CAST(try_cast({total} AS DECIMAL(18, 4))
                          - coalesce(try_cast({refunded} AS DECIMAL(18, 4)), 0) AS VARCHAR)
            ELSE {total}
        END AS amount,
        {col(header["currency"])} AS currency,
        {col(header["channel"])} AS channel,
        CASE
            WHEN {col("Cancelled at")} IS NOT NULL THEN 'cancelled'
            WHEN lower({status}) = 'refunded' THEN 'refunded'
            WHEN lower({status}) IN {CANCELLED} THEN 'cancelled'
            WHEN lower({status}) IN {COMPLETED} THEN 'completed'
            ELSE {status}
        END AS status,
        CAST(NULL AS TIMESTAMPTZ) AS update_value
    FROM firsts
    WHERE nth = 1
    ORDER BY line
    """
    try:
        return mem.execute(sql, {"name": path.name, **params}).fetch_arrow_table()
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot be read as a Shopify orders export ({_first_line(exc)})") from None
