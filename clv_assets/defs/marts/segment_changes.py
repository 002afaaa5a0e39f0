"""Segment changes between runs, and the current members: what e-mail and ad tools take.

A campaign tool wants to know who entered a segment since the last sync and who left it,
not the whole membership again. Each run keeps its memberships (marts.segment_history,
one set per as_of date, a re-run replacing its own), and the spells of membership are
derived from that history as a whole (marts.segment_changes), so they do not depend on
the order runs were taken in. ``clv-assets export`` writes an audience file from them.
"""

from datetime import timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from clv_assets.defs.marts.assets import MARTS
from clv_assets.lib.accounts import validate_account
from clv_assets.lib.keys import CUSTOMER_PROFILE
from clv_assets.lib.sql_asset import materialize_sql_table
from clv_assets.lib.warehouse import partition_metadata, read_sql, replace_account_rows, run_sql, transaction


class SegmentHistoryConfig(dg.Config):
    """How long each run's memberships are kept."""

    history_days: int = 400
    """Runs whose as_of is more than this many days before the latest are dropped from
    marts.segment_history (spells that began earlier then start at the oldest run kept)."""


@dg.asset(key=["marts", "segment_changes"], deps=[dg.AssetKey(["marts", "customer_segments"])], **MARTS)
def segment_changes(context: dg.AssetExecutionContext, config: SegmentHistoryConfig, duckdb: DuckDBResource):
    """Who entered and who left each segment, run by run: per customer and segment, the
    as_of date a spell of membership began and the as_of date of the first run without it
    (empty while a member). A first run enters everyone; a re-run of the same date changes
    nothing. Also keeps this run's memberships in marts.segment_history."""
    if config.history_days <= 0:
        raise dg.Failure(f"history_days must be positive, got {config.history_days}", allow_retries=False)
    account = validate_account(context.partition_key)
    with duckdb.get_connection() as conn:
        (as_of,) = run_sql(
            conn, "SELECT max(as_of) FROM marts.customer_profile WHERE account = $account", {"account": account}
        ).fetchone()
        if as_of is None:
            raise dg.Failure(f"account {account!r} has no customer profile to take segments from", allow_retries=False)
        params = {"account": account, "as_of": as_of}
        with transaction(conn):
            replace_account_rows(conn, "marts.segment_history", account, read_sql("marts.segment_history"), params, scope={"as_of": as_of})
            run_sql(
                conn,
                "DELETE FROM marts.segment_history WHERE account = $account AND as_of < $oldest",
                {"account": account, "oldest": as_of - timedelta(days=config.history_days)},
            )
            replace_account_rows(conn, "marts.segment_changes", account, read_sql("marts.segment_changes"), params)
        entered, left, runs = run_sql(
            conn,
            "SELECT count(*) FILTER (WHERE entered_on = $as_of), count(*) FILTER (WHERE left_on = $as_of), "
            "(SELECT count(DISTINCT as_of) FROM marts.segment_history WHERE account = $account) "
            "FROM marts.segment_changes WHERE account = $account",
            params,
        ).fetchone()
        metadata = partition_metadata(conn, "marts.segment_changes", account)
    return dg.MaterializeResult(
        metadata={**metadata, "as_of": str(as_of), "entered": entered, "left": left, "runs_kept": runs}
    )


@dg.asset(key=["marts", "segment_members"], deps=[segment_changes, CUSTOMER_PROFILE], **MARTS)
def segment_members(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """The current members of every segment with what a campaign uses: their predictions,
    bands, best channel and since when they are a member. Audiences are exported from it
    (``clv-assets export``)."""
    return materialize_sql_table(context, duckdb, "marts.segment_members")
