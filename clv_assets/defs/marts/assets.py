"""Marts: the stable, documented tables BI tools and marketers read."""

import dagster as dg
import duckdb as duckdb_module
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets.lib.segments import (
    SegmentDefinitionError,
    load_segments,
    segment_definitions,
    segments_markdown,
    segments_query,
)
from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.keys import ACCOUNT_CHANNELS, CUSTOMER_BANDS, CUSTOMER_CHANNELS, CUSTOMER_PROFILE
from clv_assets.lib.sql_asset import materialize_sql_table
from clv_assets.lib.warehouse import (
    partition_metadata,
    read_query,
    replace_account_rows,
    run_sql,
    table_exists,
    transaction,
)

MARTS = {"group_name": "marts", "partitions_def": accounts_partitions, "kinds": {"duckdb"}}


@dg.asset(key=CUSTOMER_PROFILE, deps=[CUSTOMER_BANDS, ACCOUNT_CHANNELS, CUSTOMER_CHANNELS], **MARTS)
def customer_profile(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """The table a marketer filters: one row per customer with history, 12-month
    predictions and their 90% intervals, every band with its confidence, and the best
    channel. Every column is described in DuckDB's catalog (COMMENT ON)."""
    return materialize_sql_table(context, duckdb, "marts.customer_profile")


def _shipped_segments() -> str:
    try:
        return segments_markdown(load_segments())
    except SegmentDefinitionError as exc:  # the run fails with it; the UI still loads
        return str(exc)


@dg.asset(
    key=["marts", "customer_segments"],
    deps=[customer_profile],
    description=(
        "Who is in which marketing segment (one row per customer and segment). The segments"
        " are the named predicates of sql/marts/segments.yaml: a new segment is a new entry"
        " there.\n\n" + _shipped_segments()
    ),
    **MARTS,
)
def customer_segments(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    account = validate_account(context.partition_key)
    try:
        sql, params = segments_query(load_segments())
    except SegmentDefinitionError as exc:
        raise dg.Failure(str(exc)) from None
    with duckdb.get_connection() as conn:
        try:
            with transaction(conn):
                replace_account_rows(conn, "marts.customer_segments", account, sql, {**params, "account": account})
        except duckdb_module.Error as exc:
            raise dg.Failure(f"sql/marts/segments.yaml: a segment predicate does not run: {exc}") from None
        sizes = run_sql(
            conn, "SELECT segment, count(DISTINCT customer_id) AS n FROM marts.customer_segments WHERE account = $account GROUP BY segment",
            {"account": account},
        ).fetchall()
        metadata = partition_metadata(conn, "marts.customer_segments", account)
    members = dict(sizes)
    table = "| segment | members | description |\n|---|---|---|\n" + "\n".join(
        f"| {s.name} | {members.get(s.name, 0)} | {s.description} |" for s in load_segments()
    )
    return dg.MaterializeResult(metadata={**metadata, "segments": dg.MetadataValue.md(table)})


@dg.asset(key=["marts", "segment_sizes"], deps=[customer_segments], **MARTS)
def segment_sizes(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """How big each segment is, its share of the account's customers and its predicted
    spend, with the segment's label and one-line description."""
    try:
        definitions = segment_definitions(load_segments())
    except SegmentDefinitionError as exc:
        raise dg.Failure(str(exc)) from None
    return materialize_sql_table(context, duckdb, "marts.segment_sizes", inputs={"segment_definitions": definitions})


@dg.asset(key=["marts", "band_distribution"], deps=[customer_profile], **MARTS)
def band_distribution(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """How the account's customers spread over the levels of every band."""
    return materialize_sql_table(context, duckdb, "marts.band_distribution")


@dg.asset(key=["marts", "account_summary"], deps=[band_distribution, segment_sizes], **MARTS)
def account_summary(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """The account at a glance: customers, repeat-buyer share, average order value and
    orders, average predicted spend (CLV), predicted revenue over the horizon with a 90%
    interval, band distributions, channel mix, whether the models are fitted (or why not),
    and the purchase model the latest holdout backtest chose, with the reason."""
    account = validate_account(context.partition_key)
    with duckdb.get_connection() as conn:
        # the backtest runs on demand (clv_evaluation_job): an account may have none yet
        choice = (
            run_sql(conn, read_query("model_choice_of_account"), {"account": account}).df()
            if table_exists(conn, "models.model_choice")
            else pd.DataFrame(
                {
                    "chosen_model": pd.Series(dtype=str),
                    "reason": pd.Series(dtype=str),
                    "evaluated_at": pd.Series(dtype="datetime64[ns, UTC]"),
                }
            )
        )
    return materialize_sql_table(
        context, duckdb, "marts.account_summary", inputs={"model_choice_of_account": choice}
    )
