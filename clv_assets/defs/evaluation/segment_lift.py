"""The segments as of a backtest's cutoff, built with the production SQL, and their lift.

The evaluation asset passes the calibration RFM (``sql/features/rfm.sql`` as of the
cutoff) and the posterior draws of the chosen model; this module runs the same SQL as the
production graph (predictions.customers, bands.thresholds, bands.customers,
marts.customer_profile and the predicates of ``sql/marts/segments.yaml``) on a scratch
in-memory DuckDB, then compares what each segment's members did in the holdout with
their comparison group (``models/evaluation.segment_lift``).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from clv_assets.lib.band_config import BandThresholds
from clv_assets.lib.segments import Segment, lift_groups_query
from clv_assets.lib.model_rows import band_count_rows, history_predictions, register_levels
from clv_assets.lib.warehouse import read_sql, run_sql
from clv_assets.stats.band_confidence import with_count_columns
from clv_assets.stats.bands import LABELS
from clv_assets.stats.evaluation.lift import segment_lift
from clv_assets.stats.predict import PredictionSettings, predict
from clv_assets.stats.purchase.bgnbd_covariates import LEVEL_KEYS, with_covariates
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS

# predictions.customer_channels as marts.customer_profile reads it: no channel fit in a backtest
_NO_CHANNELS = (
    "CREATE TABLE predictions.customer_channels "
    "(account VARCHAR, customer_id VARCHAR, best_channel VARCHAR, best_channel_probability DOUBLE)"
)


def profile_as_of_cutoff(
    account: str,
    rfm: pd.DataFrame,
    purchase_draws: dict,
    gg_draws: dict,
    model: str,
    thresholds: BandThresholds,
    horizons: dict | None = None,
) -> duckdb.DuckDBPyConnection:
    """A scratch DuckDB holding marts.customer_profile of ``account`` as of the RFM's as_of
    (band confidences are left NULL: the lift needs the bands only), with the account's
    band ``thresholds`` and ``horizons`` (``horizon_days``, ``purchase_horizon_days``,
    ``churn_horizon_days``; default: PredictionSettings'). A covariate ``model`` reads each
    customer's level from ``rfm``'s ``LEVEL_KEYS`` columns."""
    covariates = model in COVARIATE_PURCHASE_MODELS
    keys = ["frequency", "recency", "T", "monetary_value", *(LEVEL_KEYS if covariates else ())]
    histories = rfm.groupby(keys).size().rename("n").reset_index()
    histories = with_covariates(histories) if covariates else histories
    settings = PredictionSettings(model=model, **{name: float(days) for name, days in (horizons or {}).items()})
    predictions, _ = predict(histories, purchase_draws, gg_draws, settings)
    levels = rfm[["customer_id", *LEVEL_KEYS]] if covariates else None
    rfm = rfm.drop(columns=list(LEVEL_KEYS), errors="ignore")
    conn = duckdb.connect()
    for schema in ("features", "predictions", "bands", "marts"):
        conn.execute(f"CREATE SCHEMA {schema}")
    conn.register("calibration_rfm", rfm)
    # pandas holds features.rfm's DATE columns as timestamps: back to DATE, as in the warehouse
    dates = [c for c in rfm.columns if pd.api.types.is_datetime64_any_dtype(rfm[c])]
    replace = f" REPLACE ({', '.join(f'CAST({c} AS DATE) AS {c}' for c in dates)})" if dates else ""
    conn.execute(f"CREATE TABLE features.rfm AS SELECT *{replace} FROM calibration_rfm")
    conn.execute(_NO_CHANNELS)
    conn.register("history_predictions", history_predictions(predictions))
    if covariates:
        conn.register("customer_levels", levels)
    else:
        register_levels(conn, account, model)  # no levels
    params = {
        "account": account,
        "horizon_days": settings.horizon_days,
        "purchase_horizon_days": settings.purchase_horizon_days,
        "churn_horizon_days": settings.churn_horizon_days,
        "discount_rate": settings.discount_rate,
        "purchase_model": model,
        "purchase_model_fitted_at": None,
        "gamma_gamma_fitted_at": None,
        "predicted_at": None,
        "draws": 1,  # no draw counts here (the confidences stay NULL): the division needs a number only
        **thresholds.model_dump(),
        "overridden": [],
        **LABELS,
    }
    conn.register("band_draw_counts", band_count_rows(with_count_columns(histories, None), histories))
    for table in ("predictions.customers", "bands.thresholds", "bands.customers", "marts.customer_profile"):
        run_sql(conn, f"CREATE TABLE {table} AS {read_sql(table)}", params)
    return conn


def segment_lift_at_cutoff(
    account: str,
    rfm: pd.DataFrame,
    holdout: pd.DataFrame,
    purchase_draws: dict,
    gg_draws: dict,
    model: str,
    segments: list[Segment],
    thresholds: BandThresholds | None = None,
    horizons: dict | None = None,
) -> pd.DataFrame:
    """Per segment without cells: members, holdout behaviour of members and comparison
    group, and the lifts with 90% intervals (see ``models/evaluation.segment_lift``).
    ``thresholds`` and ``horizons``: the account's own (default: the defaults), so the
    segments measured are those the account gets."""
    conn = profile_as_of_cutoff(account, rfm, purchase_draws, gg_draws, model, thresholds or BandThresholds(), horizons)
    try:
        sql, params = lift_groups_query(segments)
        groups = run_sql(conn, sql, {**params, "account": account}).df()
    finally:
        conn.close()
    lift = segment_lift(groups, holdout)
    described = {s.name: s for s in segments}
    lift.insert(1, "label", [described[name].label for name in lift.segment])
    lift.insert(
        2,
        "comparison_group",
        [
            ("rest of the account" if described[n].compare_with == "TRUE" else described[n].compare_with)
            + (f", matched on {described[n].match_on}" if described[n].match_on else "")
            for n in lift.segment
        ],
    )
    return lift
