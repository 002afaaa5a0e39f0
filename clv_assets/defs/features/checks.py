"""Invariants of the RFM features, checked on the materialised partition."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.keys import RFM

_VIOLATIONS_SQL = """
SELECT
    count(*) FILTER (WHERE recency < 0 OR recency > "T") AS bad_recency,
    count(*) FILTER (WHERE frequency < 0 OR frequency IS NULL) AS bad_frequency,
    count(*) FILTER (WHERE frequency = 0 AND recency <> 0) AS one_time_with_recency,
    count(*) FILTER (WHERE frequency > 0 AND NOT monetary_value > 0) AS repeat_without_spend,
    count(*) AS customers
FROM features.rfm
WHERE account = $account
"""


@dg.asset_check(asset=RFM, partitions_def=accounts_partitions, blocking=True)
def rfm_invariants(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
    """0 <= recency <= T, frequency a non-negative integer (recency 0 when it is 0)."""
    counts = _violations(context, duckdb)
    bad = counts["bad_recency"] + counts["bad_frequency"] + counts["one_time_with_recency"]
    return dg.AssetCheckResult(passed=bad == 0, metadata=counts)


@dg.asset_check(asset=RFM, partitions_def=accounts_partitions)
def rfm_repeat_buyers_have_spend(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
    """monetary_value > 0 for every repeat buyer (Gamma-Gamma needs positive spend).

    A warning, not an error: zero-value repeat orders (free samples, full discounts)
    are legitimate data, and the spend model leaves such customers out.
    """
    counts = _violations(context, duckdb)
    return dg.AssetCheckResult(
        passed=counts["repeat_without_spend"] == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=counts,
    )


def _violations(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource) -> dict[str, int]:
    account = validate_account(context.partition_key)
    with duckdb.get_connection() as conn:
        cursor = conn.execute(_VIOLATIONS_SQL, {"account": account})
        names = [d[0] for d in cursor.description]
        return {name: int(value) for name, value in zip(names, cursor.fetchone(), strict=True)}
