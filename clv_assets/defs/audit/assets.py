"""Earlier predictions checked against what happened.

Each account run keeps a compact snapshot of what it predicted (models.prediction_snapshots,
with the posterior draws in models.prediction_snapshot_draws), and scores every stored
snapshot whose horizon has fully or partly matured against the orders that arrived since
(marts.prediction_audit, per band and segment in marts.prediction_audit_detail, calibration
in marts.prediction_calibration). The maths is in :mod:`clv_assets.stats.audit`.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.draws import load_draws
from clv_assets.lib.keys import CUSTOMER_SEGMENTS, CUSTOMER_TRANSACTIONS, PREDICTION_AUDIT, PREDICTION_SNAPSHOTS
from clv_assets.lib.warehouse import column_schema_metadata, partition_metadata, read_query, read_sql, replace_account_rows, run_sql, table_exists, transaction
from clv_assets.stats.audit import (
    TOTALS, AuditSettings, audit_png, calibration_bins, interval, simulated_totals, sub_horizon_means,
)
from clv_assets.stats.plots import markdown_image
from clv_assets.stats.predict import aligned_draws
from clv_assets.stats.registry import GAMMA_GAMMA

AUDIT = {"partitions_def": accounts_partitions, "group_name": "audit", "kinds": {"duckdb"}}
AUDIT_TABLES = ("marts.prediction_audit", "marts.prediction_audit_detail", "marts.prediction_calibration")
SNAPSHOT_TABLES = ("models.prediction_snapshots", "models.prediction_snapshot_draws")
BANDS = ("order_likelihood_band", "churn_band", "spend_tier", "purchase_probability_band")


class SnapshotConfig(dg.Config):
    """What each run keeps of its predictions."""

    retention_days: int = 400
    """Snapshots whose as_of is more than this many days before the run's are dropped."""
    draws: int = 200
    """Posterior draws kept with a snapshot (thinned evenly), as many as the predictions use."""


@dg.asset(key=PREDICTION_SNAPSHOTS, deps=[CUSTOMER_SEGMENTS], **AUDIT)
def prediction_snapshots(context: dg.AssetExecutionContext, config: SnapshotConfig, duckdb: DuckDBResource):
    """A compact snapshot of what this run predicted per customer (P(order) within the
    purchase horizon and the horizon, expected orders and spend with their 90% intervals,
    churn probability, bands, segments) and the posterior draws behind it, so that later
    runs can check it against the orders that arrive. One per account and as_of date (a
    re-run replaces it); kept ``retention_days``."""
    if config.retention_days <= 0 or config.draws <= 0:
        raise dg.Failure("retention_days and draws must be positive", allow_retries=False)
    account = validate_account(context.partition_key)
    with duckdb.get_connection() as conn:
        as_of, model = run_sql(
            conn,
            "SELECT max(as_of), max(purchase_model) FROM predictions.customers WHERE account = $account",
            {"account": account},
        ).fetchone()
        if model is None:
            context.log.warning(f"{account}: no predictions, no snapshot")
            return dg.MaterializeResult(metadata={**column_schema_metadata(conn, "models.prediction_snapshots"), "status": "no predictions"})
        bg, _ = load_draws(conn, account, model, config.draws)
        gg, _ = load_draws(conn, account, GAMMA_GAMMA.name, config.draws)
        bg, gg = aligned_draws(bg, gg, model)
        draws = pd.concat(
            pd.DataFrame({"model": name, "draw": np.arange(len(values)), "parameter": parameter, "value": values})
            for name, params in ((model, bg), (GAMMA_GAMMA.name, gg))
            for parameter, values in params.items()
        )
        conn.register("snapshot_draws", draws)
        params = {"account": account, "as_of": as_of, "run_id": context.run_id, "purchase_model": model}
        with transaction(conn):
            for table in SNAPSHOT_TABLES:
                replace_account_rows(conn, table, account, read_sql(table), params, scope={"as_of": as_of})
                run_sql(
                    conn,
                    f"DELETE FROM {table} WHERE account = $account AND as_of < $oldest",
                    {"account": account, "oldest": as_of - timedelta(days=config.retention_days)},
                )
        (kept,) = run_sql(
            conn, "SELECT count(DISTINCT as_of) FROM models.prediction_snapshots WHERE account = $account", {"account": account}
        ).fetchone()
        metadata = partition_metadata(conn, "models.prediction_snapshots", account)
    return dg.MaterializeResult(metadata={**metadata, "as_of": str(as_of), "snapshots_kept": kept})


class AuditConfig(dg.Config):
    """How the stored snapshots are scored."""

    simulations: int = 400
    """Simulated totals behind each 90% predictive interval."""
    calibration_bins: int = 10
    """Equal-width bins of predicted P(order) in marts.prediction_calibration."""
    seed: int = 0
    """Seed of the simulations (with the snapshot date and window, so a re-run repeats them)."""


@dg.asset(key=PREDICTION_AUDIT, deps=[PREDICTION_SNAPSHOTS, CUSTOMER_TRANSACTIONS], **AUDIT)
def prediction_audit(context: dg.AssetExecutionContext, config: AuditConfig, duckdb: DuckDBResource):
    """Earlier predictions against what happened: every stored snapshot whose horizon has
    fully or partly matured, scored against the orders (transactions: same-day orders
    merged) that arrived after its as_of date up to this run's. Per snapshot and horizon
    (the purchase horizon and the horizon), over the days that have passed: predicted vs
    actual orders, buyers and spend with the 90% predictive interval of each total, for
    the whole account, per band and per segment; and the calibration of P(order)."""
    account = validate_account(context.partition_key)
    with duckdb.get_connection() as conn:
        (as_of,) = run_sql(conn, "SELECT max(as_of) FROM features.rfm WHERE account = $account", {"account": account}).fetchone()
        snapshots = run_sql(
            conn,
            "SELECT as_of, any_value(run_id) AS run_id, any_value(purchase_model) AS model, "
            "max(horizon_days) AS horizon_days, max(purchase_horizon_days) AS purchase_horizon_days "
            "FROM models.prediction_snapshots WHERE account = $account AND as_of < $as_of GROUP BY as_of ORDER BY as_of",
            {"account": account, "as_of": as_of},
        ).df()
        draws = run_sql(
            conn,
            "SELECT as_of, model, parameter, draw, value FROM models.prediction_snapshot_draws "
            "WHERE account = $account AND as_of < $as_of ORDER BY as_of, model, parameter, draw",
            {"account": account, "as_of": as_of},
        ).df()
        windows = []
        for snap in snapshots.itertuples():
            elapsed = (pd.Timestamp(as_of) - pd.Timestamp(snap.as_of)).days
            for horizon in sorted({int(snap.purchase_horizon_days), int(snap.horizon_days)}):
                days = min(elapsed, horizon)
                outcomes = run_sql(
                    conn, read_query("snapshot_outcomes"),
                    {"account": account, "snapshot_as_of": snap.as_of, "days": days},
                ).df()
                windows.append((snap, horizon, days, outcomes))
    audited_at = datetime.now(UTC)
    rows, calibration = [], []
    for snap, horizon, days, outcomes in windows:
        of_snapshot = draws[draws["as_of"] == snap.as_of]
        bg, gg = (_draw_arrays(of_snapshot[of_snapshot["model"] == name]) for name in (snap.model, GAMMA_GAMMA.name))
        keys = {
            "account": account, "as_of": as_of, "snapshot_as_of": snap.as_of, "snapshot_run_id": snap.run_id,
            "purchase_model": snap.model, "horizon_days": horizon, "matured_days": days, "fully_matured": days == horizon,
        }
        seed = config.seed + int(pd.Timestamp(snap.as_of).toordinal()) * 1000 + days
        frame, groups = _score_window(outcomes, bg, gg, snap.model, days, AuditSettings(config.simulations, seed=seed))
        rows.append(pd.concat([pd.DataFrame([keys] * len(groups)), groups.reset_index(drop=True)], axis=1))
        bins = calibration_bins(frame["buyers"].to_numpy(), outcomes["actual_orders"].to_numpy() > 0, config.calibration_bins)
        calibration.append(bins.assign(**keys).assign(audited_at=audited_at))
    with duckdb.get_connection() as conn:
        with transaction(conn):
            if not rows:  # nothing matured yet: no rows of an earlier run stay
                for table in AUDIT_TABLES:
                    if table_exists(conn, table):
                        run_sql(conn, f"DELETE FROM {table} WHERE account = $account", {"account": account})
                schema = column_schema_metadata(conn, "marts.prediction_audit")
                return dg.MaterializeResult(metadata={**schema, "as_of": str(as_of), "snapshots_scored": 0})
            audit_rows = pd.concat(rows, ignore_index=True).assign(audited_at=audited_at)
            conn.register("audit_rows", audit_rows)
            conn.register("calibration_rows", pd.concat(calibration, ignore_index=True))
            for table in AUDIT_TABLES:
                replace_account_rows(conn, table, account, read_sql(table))
        metadata = partition_metadata(conn, "marts.prediction_audit", account)
    account_rows = audit_rows[audit_rows["group_kind"] == "account"]
    # the longest horizon of each snapshot: the most days matured
    summary = account_rows[account_rows["horizon_days"] == account_rows.groupby("snapshot_as_of")["horizon_days"].transform("max")]
    metadata = {
        **metadata,
        "as_of": str(as_of),
        "snapshots_scored": len(snapshots),
        "predicted_vs_actual": dg.MetadataValue.md(markdown_image(audit_png(summary), "predicted vs actual orders")),
    }
    return dg.MaterializeResult(metadata=metadata)


def _draw_arrays(long: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: part.sort_values("draw")["value"].to_numpy(float) for name, part in long.groupby("parameter")}


def _groups(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The groups scored (the account, each band value, each segment) and the customers'
    (customers, groups) membership matrix."""
    labels = [("account", "account", "all")]
    columns = [np.ones(len(outcomes))]
    for band in BANDS:
        for value in sorted(outcomes[band].dropna().unique()):
            labels.append(("band", band, value))
            columns.append((outcomes[band] == value).to_numpy(float))
    segments = outcomes["segments"].map(lambda names: set(names) if names is not None else set())
    for name in sorted(set().union(*segments)) if len(segments) else []:
        labels.append(("segment", "segment", name))
        columns.append(segments.map(lambda names, name=name: name in names).to_numpy(float))
    return pd.DataFrame(labels, columns=["group_kind", "group_name", "group_value"]), np.column_stack(columns)


def _score_window(
    outcomes: pd.DataFrame, bg: dict, gg: dict, model: str, days: int, settings: AuditSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per customer sub-horizon means, and per group predicted vs actual totals with intervals."""
    labels, membership = _groups(outcomes)
    means = sub_horizon_means(outcomes, bg, gg, model, days)
    simulated = simulated_totals(outcomes, membership, bg, gg, model, days, settings)
    actual = {
        "orders": outcomes["actual_orders"].to_numpy(float),
        "buyers": (outcomes["actual_orders"] > 0).to_numpy(float),
        "spend": outcomes["actual_spend"].to_numpy(float),
    }
    out = labels.assign(customers=membership.sum(axis=0).astype(int))
    for name in TOTALS:
        low, high = interval(simulated[name])
        out[f"predicted_{name}"] = means[name].to_numpy() @ membership
        out[f"predicted_{name}_p05"], out[f"predicted_{name}_p95"] = low, high
        out[f"actual_{name}"] = actual[name] @ membership
    for name in TOTALS:
        out[f"{name}_within_interval"] = out[f"actual_{name}"].between(out[f"predicted_{name}_p05"], out[f"predicted_{name}_p95"])
    return means, out
