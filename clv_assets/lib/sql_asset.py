"""Materialise one account partition of a table from its SQL file."""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import validate_account
from clv_assets.lib.warehouse import partition_metadata, read_sql, replace_account_rows, transaction


def materialize_sql_table(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    table: str,
    params: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> dg.MaterializeResult:
    """Replace the partition's rows of ``table`` with ``sql/<schema>/<table>.sql``'s result
    (described by its ``.columns.yaml``, as is every table :func:`replace_account_rows` writes).

    ``inputs``: data frames the SQL reads, registered under their names.
    """
    account = validate_account(context.partition_key)
    params = {"account": account, **(params or {})}
    with duckdb.get_connection() as conn:
        for name, frame in (inputs or {}).items():
            conn.register(name, frame)
        with transaction(conn):
            replace_account_rows(conn, table, account, read_sql(table), params)
        return dg.MaterializeResult(metadata=partition_metadata(conn, table, account))
