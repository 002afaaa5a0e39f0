"""Invariants of the marts, checked on the materialised partition."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.keys import CUSTOMER_PROFILE

_PROFILE_SQL = """
SELECT
    (SELECT count(*) FROM features.rfm WHERE account = $account) AS customers,
    count(*) AS profile_rows,
    count(DISTINCT customer_id) AS distinct_customers,
    count(*) FILTER (WHERE frequency_band IS NULL OR spend_band IS NULL) AS missing_history_band,
    count(*) FILTER (WHERE predicted_spend IS NOT NULL AND (
        predicted_spend_band IS NULL OR predicted_aov_band IS NULL OR order_likelihood_band IS NULL
        OR spend_tier IS NULL OR churn_band IS NULL OR purchase_probability_band IS NULL)) AS missing_predicted_band,
    count(*) FILTER (WHERE NOT (
        predicted_spend_band_confidence BETWEEN 0 AND 1 AND predicted_aov_band_confidence BETWEEN 0 AND 1
        AND order_likelihood_band_confidence BETWEEN 0 AND 1 AND spend_tier_confidence BETWEEN 0 AND 1
        AND churn_band_confidence BETWEEN 0 AND 1 AND purchase_probability_band_confidence BETWEEN 0 AND 1
    )) AS confidence_out_of_range
FROM marts.customer_profile
WHERE account = $account
"""


@dg.asset_check(asset=CUSTOMER_PROFILE, partitions_def=accounts_partitions, blocking=True)
def profile_complete(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
    """One row per customer of features.rfm; every band set (predicted ones wherever there
    are predictions); every band confidence a probability."""
    account = validate_account(context.partition_key)
    with duckdb.get_connection() as conn:
        cursor = conn.execute(_PROFILE_SQL, {"account": account})
        names = [d[0] for d in cursor.description]
        counts = {name: int(value) for name, value in zip(names, cursor.fetchone(), strict=True)}
    passed = (
        counts["profile_rows"] == counts["customers"] == counts["distinct_customers"]
        and counts["missing_history_band"] == counts["missing_predicted_band"] == counts["confidence_out_of_range"] == 0
    )
    return dg.AssetCheckResult(passed=passed, metadata=counts)
