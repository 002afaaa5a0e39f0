"""The drift check: the latest snapshots' matured totals against their predictive intervals."""

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.keys import PREDICTION_AUDIT
from clv_assets.lib.warehouse import table_exists

# a warning by default: a changed business is news, not a broken run; set
# CLV_AUDIT_DRIFT_BLOCKING=1 where a drifting account should stop its run's downstream steps
DRIFT_BLOCKING = os.environ.get("CLV_AUDIT_DRIFT_BLOCKING", "").lower() in ("1", "true", "yes")
CONSECUTIVE = 2
CHECKED = ("orders", "buyers")

# The two latest snapshots with a scored window, each at the largest window both have
# scored (the windows are scored once each and kept: see predictions_hold), latest first
_LATEST_SQL = """
WITH latest AS (
    SELECT DISTINCT snapshot_as_of FROM marts.prediction_audit
    WHERE account = $account ORDER BY snapshot_as_of DESC LIMIT $consecutive
), common AS (
    SELECT max(matured_days) AS days FROM (
        SELECT matured_days FROM marts.prediction_audit
        WHERE account = $account AND snapshot_as_of IN (SELECT snapshot_as_of FROM latest)
        GROUP BY matured_days HAVING count(DISTINCT snapshot_as_of) = (SELECT count(*) FROM latest)
    )
)
SELECT snapshot_as_of, matured_days,
       predicted_orders, predicted_orders_p05, predicted_orders_p95, actual_orders,
       predicted_buyers, predicted_buyers_p05, predicted_buyers_p95, actual_buyers
FROM marts.prediction_audit
WHERE account = $account
  AND snapshot_as_of IN (SELECT snapshot_as_of FROM latest)
  AND matured_days = (SELECT days FROM common)
ORDER BY snapshot_as_of DESC
"""


@dg.asset_check(
    asset=PREDICTION_AUDIT,
    partitions_def=accounts_partitions,
    blocking=DRIFT_BLOCKING,
    description=f"Fails when the orders or buyers of the {CONSECUTIVE} latest scored snapshots, each over the "
    "largest window both have scored, all fall outside their 90% predictive interval: the business "
    "changed since the model was fitted (a sale, a site migration, broken tracking).",
)
def predictions_hold(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
    """What it compares: the two latest snapshots (by snapshot_as_of) that have at least one
    window scored in marts.prediction_audit, each at the same window, the largest one
    (matured_days) that both have scored (a window is scored once, by the first run on or
    after its end, and kept). For each of the two, the account's actual orders and buyers in
    (snapshot_as_of, snapshot_as_of + window] against their 90% predictive intervals. The
    check fails when each of the two snapshots has orders or buyers outside its interval
    (the same window length for both, so that the two are comparable evidence); with
    fewer than two scored snapshots it passes.

    With daily runs the two latest scored snapshots usually share only the 7-day window,
    scored on consecutive days; with runs 30 days apart (the tests), the 30-day window.
    """
    account = validate_account(context.partition_key)
    with duckdb.get_connection() as conn:
        if not table_exists(conn, "marts.prediction_audit"):  # no snapshot has matured anywhere yet
            return dg.AssetCheckResult(passed=True, description=f"{account}: no scored snapshot yet")
        latest = conn.execute(_LATEST_SQL, {"account": account, "consecutive": CONSECUTIVE}).df()
    lines, outside = [], []
    for row in latest.itertuples():
        missed = [
            f"{name} {getattr(row, f'actual_{name}'):.0f} vs predicted {getattr(row, f'predicted_{name}'):.1f} "
            f"(90% {getattr(row, f'predicted_{name}_p05'):.0f}-{getattr(row, f'predicted_{name}_p95'):.0f})"
            for name in CHECKED
            if not getattr(row, f"predicted_{name}_p05") <= getattr(row, f"actual_{name}") <= getattr(row, f"predicted_{name}_p95")
        ]
        outside.append(bool(missed))
        lines.append(f"snapshot {row.snapshot_as_of:%Y-%m-%d} over {row.matured_days} days: " + ("; ".join(missed) or "within"))
    drift = len(outside) == CONSECUTIVE and all(outside)
    message = (
        f"{account}: " + ("drift: " if drift else "") + " | ".join(lines)
        if lines
        else f"{account}: no scored snapshot yet"
    )
    return dg.AssetCheckResult(
        passed=not drift,
        severity=dg.AssetCheckSeverity.ERROR if DRIFT_BLOCKING else dg.AssetCheckSeverity.WARN,
        description=message,
        metadata={"snapshots_checked": len(latest), "snapshots_outside": sum(outside), "summary": message},
    )
