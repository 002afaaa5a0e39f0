"""Earlier predictions checked against what happened.

Each account run keeps a compact snapshot of what it predicted (models.prediction_snapshots,
with the posterior draws in models.prediction_snapshot_draws), and scores the stored
snapshots against the orders that arrived since, once per window of checkpoint days
(by default 7, 30, 90, 180, 365 and the horizons, :func:`clv_assets.stats.audit.audit_windows`):
a window is scored by the first run whose as_of is at least the snapshot's as_of plus the
window, and its rows are kept (marts.prediction_audit, per band and segment in
marts.prediction_audit_detail, calibration in marts.prediction_calibration). A run's cost
is bounded by the windows it scores, not by the snapshots kept. The maths is in
:mod:`clv_assets.stats.audit`.
"""

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.draws import load_draws
from clv_assets.lib.keys import CUSTOMER_SEGMENTS, CUSTOMER_TRANSACTIONS, PREDICTION_AUDIT, PREDICTION_SNAPSHOTS
from clv_assets.lib.warehouse import column_schema_metadata, partition_metadata, read_query, read_sql, replace_account_rows, run_sql, table_exists, transaction
from clv_assets.stats.audit import CHECKPOINTS, TOTALS, AuditSettings, audit_png, audit_windows, calibration_bins, group_intervals
from clv_assets.stats.predict import aligned_draws
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, GAMMA_GAMMA, SERVED_PURCHASE_MODELS

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
        # stored as the fits store them: one scalar per name (a coefficient per covariate)
        draws = pd.concat(
            pd.DataFrame({"model": name, "draw": np.arange(len(values)), "parameter": parameter, "value": values})
            for name, params in ((model, SERVED_PURCHASE_MODELS[model].scalar_draws(bg)), (GAMMA_GAMMA.name, gg))
            for parameter, values in params.items()
        )
        conn.register("snapshot_draws", draws)
        params = {
            "account": account, "as_of": as_of, "run_id": context.run_id, "purchase_model": model,
            # a covariate model's predictions depend on each customer's covariate level too
            "covariates": model in COVARIATE_PURCHASE_MODELS,
        }
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
    """Simulated totals behind each 90% predictive interval of a small group."""
    exact_below: int = 500
    """Groups of fewer customers are simulated customer by customer; larger ones get the
    exact per-draw mean and variance of their total and the normal mixture over draws."""
    calibration_bins: int = 10
    """Equal-width bins of predicted P(order) in marts.prediction_calibration."""
    seed: int = 0
    """Seed of the simulations (with the snapshot date and window, so a re-run repeats them)."""
    posterior_draws: int = 50
    """Posterior draws (evenly spaced among the snapshot's) behind the predicted totals
    and the normal-mixture intervals of large groups; 0: all of them."""
    checkpoints: list[int] = list(CHECKPOINTS)
    """Windows (days after a snapshot's as_of) each snapshot is scored over, besides its
    purchase horizon and horizon themselves."""
    audit_every_days: int = 7
    """Snapshots scored: the oldest kept, then each next one at least this many days after
    the last scored (1: every snapshot). Daily runs then mature about one window a week
    instead of five a day, which keeps the audit a small part of a run."""


_SNAPSHOTS_SQL = """
SELECT as_of, any_value(run_id) AS run_id, any_value(purchase_model) AS model,
       max(horizon_days) AS horizon_days, max(purchase_horizon_days) AS purchase_horizon_days
FROM models.prediction_snapshots WHERE account = $account AND as_of < $as_of GROUP BY as_of ORDER BY as_of
"""
_SCORED_SQL = """
SELECT DISTINCT snapshot_as_of, horizon_days, matured_days, as_of
FROM marts.prediction_audit WHERE account = $account
"""


@dg.asset(key=PREDICTION_AUDIT, deps=[PREDICTION_SNAPSHOTS, CUSTOMER_TRANSACTIONS], **AUDIT)
def prediction_audit(context: dg.AssetExecutionContext, config: AuditConfig, duckdb: DuckDBResource):
    """Earlier predictions against what happened, once per snapshot and window: the stored
    snapshots' windows of checkpoint days (by default 7, 30, 90, 180, 365, capped by the
    snapshot's horizons, and the horizons) that have matured by this run's as_of and were
    not scored by an earlier run, scored against the orders (transactions: same-day orders
    merged) in exactly (snapshot as_of, snapshot as_of + window]. Per window: predicted vs
    actual orders, buyers and spend with the 90% predictive interval of each total, for
    the whole account, per band and per segment; and the calibration of P(order). The rows
    of earlier windows are kept; a re-run of the same as_of replaces its own windows."""
    account = validate_account(context.partition_key)
    with duckdb.get_connection() as conn:
        (as_of,) = run_sql(conn, "SELECT max(as_of) FROM features.rfm WHERE account = $account", {"account": account}).fetchone()
        # an account never predicted (too small to fit) has no snapshot to score
        snapshots = (
            run_sql(conn, _SNAPSHOTS_SQL, {"account": account, "as_of": as_of}).df()
            if table_exists(conn, "models.prediction_snapshots")
            else pd.DataFrame(columns=["as_of", "run_id", "model", "horizon_days", "purchase_horizon_days"])
        )
        snapshots["as_of"] = pd.to_datetime(snapshots["as_of"]).dt.date
        scored = (
            run_sql(conn, _SCORED_SQL, {"account": account}).df()
            if table_exists(conn, "marts.prediction_audit")
            else pd.DataFrame(columns=["snapshot_as_of", "horizon_days", "matured_days", "as_of"])
        )
        if not config.checkpoints or min(config.checkpoints) <= 0 or config.audit_every_days <= 0:
            raise dg.Failure("checkpoints and audit_every_days must be positive days", allow_retries=False)
        snapshots = snapshots[scored_cadence(snapshots["as_of"], config.audit_every_days)]
        due, stale = _due_windows(snapshots, scored, as_of, config.checkpoints)
        with transaction(conn):  # rows of windows no snapshot has any more (an earlier scheme)
            for table in AUDIT_TABLES:
                for snap_as_of, horizon, days in stale:
                    run_sql(
                        conn,
                        f"DELETE FROM {table} WHERE account = $account AND snapshot_as_of = $snapshot "
                        "AND horizon_days = $horizon AND matured_days = $days",
                        {"account": account, "snapshot": snap_as_of, "horizon": horizon, "days": days},
                    )
        dates = sorted({snap.as_of for snap, _, _ in due})
        draws = run_sql(
            conn,
            "SELECT as_of, model, parameter, draw, value FROM models.prediction_snapshot_draws "
            "WHERE account = $account AND list_contains($dates, as_of) ORDER BY as_of, model, parameter, draw",
            {"account": account, "dates": dates},
        ).df() if due else pd.DataFrame(columns=["as_of", "model", "parameter", "draw", "value"])
        draws["as_of"] = pd.to_datetime(draws["as_of"]).dt.date
        audited_at = datetime.now(UTC)
        settings = AuditSettings(config.simulations, exact_below=config.exact_below, posterior_draws=config.posterior_draws)
        rows, calibration, seconds = [], [], []
        for snap, horizon, days in due:
            started = time.perf_counter()
            of_snapshot = draws[draws["as_of"] == snap.as_of]
            bg, gg = (_draw_arrays(of_snapshot[of_snapshot["model"] == name]) for name in (snap.model, GAMMA_GAMMA.name))
            bg = SERVED_PURCHASE_MODELS[snap.model].vector_draws(bg)
            outcomes = run_sql(
                conn, read_query("snapshot_outcomes"), {"account": account, "snapshot_as_of": snap.as_of, "days": days}
            ).df()
            keys = {
                "account": account, "as_of": as_of, "snapshot_as_of": snap.as_of, "snapshot_run_id": snap.run_id,
                "purchase_model": snap.model, "horizon_days": horizon, "matured_days": days, "fully_matured": days == horizon,
            }
            seed = config.seed + int(pd.Timestamp(snap.as_of).toordinal()) * 1000 + days
            groups, p_order = _score_window(
                conn, account, snap.as_of, outcomes, bg, gg, snap.model, days, replace(settings, seed=seed)
            )
            rows.append(pd.concat([pd.DataFrame([keys] * len(groups)), groups.reset_index(drop=True)], axis=1))
            bins = calibration_bins(p_order, outcomes["n"].to_numpy(), outcomes["actual_buyers"].to_numpy(), config.calibration_bins)
            calibration.append(bins.assign(**keys).assign(audited_at=audited_at))
            seconds.append(time.perf_counter() - started)
        if rows:
            audit_rows = pd.concat(rows, ignore_index=True).assign(audited_at=audited_at)
            calibration_rows = pd.concat(calibration, ignore_index=True)
            with transaction(conn):
                # per snapshot, only the windows scored now are replaced: the others stay
                for snap_as_of in dates:
                    mine = audit_rows["snapshot_as_of"] == snap_as_of
                    windows = sorted(int(d) for d in audit_rows.loc[mine, "matured_days"].unique())
                    conn.register("audit_rows", audit_rows[mine])
                    conn.register("calibration_rows", calibration_rows[calibration_rows["snapshot_as_of"] == snap_as_of])
                    for table in AUDIT_TABLES:
                        replace_account_rows(
                            conn, table, account, read_sql(table), scope={"snapshot_as_of": snap_as_of, "matured_days": windows}
                        )
                conn.unregister("audit_rows")
                conn.unregister("calibration_rows")
        if not table_exists(conn, "marts.prediction_audit"):  # nothing matured yet anywhere
            return dg.MaterializeResult(metadata={"as_of": str(as_of), "windows_scored": 0})
        metadata = partition_metadata(conn, "marts.prediction_audit", account)
        # per snapshot, its longest scored window (the most days matured)
        summary = run_sql(
            conn,
            "SELECT snapshot_as_of, matured_days, predicted_orders, predicted_orders_p05, predicted_orders_p95, actual_orders "
            "FROM marts.prediction_audit WHERE account = $account "
            "QUALIFY matured_days = max(matured_days) OVER (PARTITION BY snapshot_as_of) ORDER BY snapshot_as_of",
            {"account": account},
        ).df()
    metadata = {
        **metadata,
        "as_of": str(as_of),
        "windows_scored": len(due),
        "snapshots_scored": len(dates),
        "windows": ", ".join(
            f"{snap.as_of:%Y-%m-%d}+{days}d ({took:.1f} s)" for (snap, _, days), took in zip(due, seconds, strict=True)
        ) or "none due",
    }
    if len(summary):
        from clv_assets.stats.plots import markdown_image  # matplotlib: not when the definitions load

        metadata["predicted_vs_actual"] = dg.MetadataValue.md(markdown_image(audit_png(summary), "predicted vs actual orders"))
    return dg.MaterializeResult(metadata=metadata)


def scored_cadence(dates: pd.Series, every_days: int) -> np.ndarray:
    """Which snapshot dates are scored: walking from the oldest, each date at least
    ``every_days`` after the last one scored (the same choice on every run)."""
    keep, last = np.zeros(len(dates), dtype=bool), None
    for i in np.argsort(dates.to_numpy(), kind="stable"):
        if last is None or (dates.iloc[i] - last).days >= every_days:
            keep[i], last = True, dates.iloc[i]
    return keep


def _due_windows(snapshots: pd.DataFrame, scored: pd.DataFrame, as_of, checkpoints=CHECKPOINTS) -> tuple[list, list]:
    """The windows to score now, (snapshot row, horizon days, window days): matured by
    ``as_of`` (snapshot as_of + window <= as_of) and not scored by a run of an earlier
    as_of (a re-run of the same or an earlier as_of scores its windows again); and the
    stored (snapshot_as_of, horizon_days, matured_days) of the stored snapshots that are no
    window of theirs (rows of an earlier scheme, deleted)."""
    due, stale = [], []
    for snap in snapshots.itertuples():
        windows = audit_windows(int(snap.purchase_horizon_days), int(snap.horizon_days), checkpoints)
        mine = scored[pd.to_datetime(scored["snapshot_as_of"]).dt.date == snap.as_of]
        kept = {
            int(row.matured_days)
            for row in mine.itertuples()
            if (int(row.matured_days), int(row.horizon_days)) in windows and pd.Timestamp(row.as_of).date() < as_of
        }
        stale += [
            (snap.as_of, int(row.horizon_days), int(row.matured_days))
            for row in mine.itertuples()
            if (int(row.matured_days), int(row.horizon_days)) not in windows
        ]
        elapsed = (as_of - snap.as_of).days
        due += [(snap, horizon, days) for days, horizon in windows if days <= elapsed and days not in kept]
    return due, stale


def _draw_arrays(long: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: part.sort_values("draw")["value"].to_numpy(float) for name, part in long.groupby("parameter")}


SEGMENT_SEPARATOR = "\x1f"  # chr(31), between the names of sql/queries/snapshot_*.sql's segments_key


def _groups(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The groups scored (the account, each band value, each segment) and the rows'
    (rows, groups) membership matrix (a row is customers or one customer)."""
    labels = [("account", "account", "all")]
    blocks = [np.ones((len(outcomes), 1))]
    for band in BANDS:  # one column per value (sorted), set at once from the codes
        code, values = pd.factorize(outcomes[band], sort=True)
        labels += [("band", band, value) for value in values]
        blocks.append(_one_hot(np.flatnonzero(code >= 0), code[code >= 0], len(outcomes), len(values)))
    # segments: few distinct combinations; each combination's membership row, then per row
    code, keys = pd.factorize(outcomes["segments_key"].fillna(""), sort=True)
    combinations = [key.split(SEGMENT_SEPARATOR) if key else [] for key in keys]
    names = sorted({name for names in combinations for name in names})
    position = {name: j for j, name in enumerate(names)}
    of_combination = np.zeros((len(keys), len(names)))
    for i, names_ in enumerate(combinations):
        of_combination[i, [position[name] for name in names_]] = 1.0
    labels += [("segment", "segment", name) for name in names]
    blocks.append(of_combination[code] if len(outcomes) else np.zeros((0, len(names))))
    return pd.DataFrame(labels, columns=["group_kind", "group_name", "group_value"]), np.hstack(blocks)


def _one_hot(rows: np.ndarray, codes: np.ndarray, n_rows: int, n_codes: int) -> np.ndarray:
    out = np.zeros((n_rows, n_codes))
    out[rows, codes] = 1.0
    return out


def _score_window(
    conn, account: str, snapshot_as_of, outcomes: pd.DataFrame, bg: dict, gg: dict, model: str, days: int,
    settings: AuditSettings,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per group predicted vs actual totals with their intervals, and each outcome row's
    P(order). ``outcomes`` are the snapshot's customers grouped by history and group
    (sql/queries/snapshot_outcomes.sql); the customers of the small groups, simulated one by
    one, are read from the snapshot (sql/queries/snapshot_members.sql)."""
    labels, membership = _groups(outcomes)

    def members(small: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        chosen = labels.iloc[small]
        wanted = {band: chosen.loc[chosen["group_name"] == band, "group_value"].tolist() for band in BANDS}
        params = {
            "account": account, "snapshot_as_of": snapshot_as_of, "everyone": bool((chosen["group_kind"] == "account").any()),
            **{band: wanted[band] or [""] for band in BANDS},
            "segments": chosen.loc[chosen["group_kind"] == "segment", "group_value"].tolist() or [""],
        }
        people = run_sql(conn, read_query("snapshot_members"), params).df()
        people_labels, people_membership = _groups(people)
        index = {tuple(label): i for i, label in enumerate(people_labels.itertuples(index=False))}
        weights = np.zeros((len(people), len(small)))
        for j, label in enumerate(chosen.itertuples(index=False)):
            if tuple(label) in index:  # a member of the group is among these people
                weights[:, j] = people_membership[:, index[tuple(label)]]
        return people, weights

    out, p_order = group_intervals(outcomes, membership, bg, gg, model, days, settings, members=members)
    out = pd.concat([labels, out], axis=1).assign(customers=(outcomes["n"].to_numpy(float) @ membership).astype(int))
    for name in TOTALS:
        out[f"actual_{name}"] = outcomes[f"actual_{name}"].to_numpy(float) @ membership
    for name in TOTALS:
        out[f"{name}_within_interval"] = out[f"actual_{name}"].between(out[f"predicted_{name}_p05"], out[f"predicted_{name}_p95"])
    columns = ["group_kind", "group_name", "group_value", "customers"]
    for name in TOTALS:
        columns += [f"predicted_{name}", f"predicted_{name}_p05", f"predicted_{name}_p95", f"actual_{name}"]
    columns += [f"{name}_within_interval" for name in TOTALS] + ["interval_method"]
    return out[columns], p_order
