"""Materialise one account partition of a table from its SQL file."""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import validate_account
from clv_assets.lib.warehouse import apply_descriptions, partition_metadata, read_sql, replace_account_rows, transaction


def materialize_sql_table(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    table: str,
    params: dict[str, Any] | None = None,
    describe: bool = False,
    inputs: dict[str, Any] | None = None,
) -> dg.MaterializeResult:
    """Replace the partition's rows of ``table`` with ``sql/<schema>/<table>.sql``'s result.

    ``describe``: also store ``sql/<schema>/<table>.columns.yaml`` as the table's comments.
    ``inputs``: data frames the SQL reads, registered under their names.
    """
    account = validate_account(context.partition_key)
    params = {"account": account, **(params or {})}
    with duckdb.get_connection() as conn:
        for name, frame in (inputs or {}).items():
            conn.register(name, frame)
        with transaction(conn):
            replace_account_rows(conn, table, account, read_sql(table), params)
            if describe:
                apply_descriptions(conn, table)
        return dg.MaterializeResult(metadata=partition_metadata(conn, table, account))
