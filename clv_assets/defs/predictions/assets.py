"""Per-customer predictions: orders, order likelihood, order value, spend, churn, next order."""

from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.draws import load_draws
from clv_assets.lib.prediction_config import PredictionConfig
from clv_assets.lib.keys import CUSTOMER_PREDICTIONS, GAMMA_GAMMA_FIT, PURCHASE_MODEL_FIT
from clv_assets.lib.model_rows import history_predictions, register_levels, scoring_rows
from clv_assets.lib.resources import LandingZone
from clv_assets.lib.warehouse import partition_metadata, read_query, read_sql, replace_account_rows, run_sql, transaction
from clv_assets.stats.predict import PredictionSettings, empty_predictions, predict
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, GAMMA_GAMMA, SERVED_PURCHASE_MODELS


@dg.asset(
    key=CUSTOMER_PREDICTIONS,
    deps=[PURCHASE_MODEL_FIT, GAMMA_GAMMA_FIT],
    partitions_def=accounts_partitions,
    group_name="predictions",
    kinds={"duckdb"},
)
def customer_predictions(
    context: dg.AssetExecutionContext, config: PredictionConfig, duckdb: DuckDBResource, landing: LandingZone
):
    """What each customer is expected to do over the horizon (default 12 months).

    Probability the customer is still active (p_alive); expected orders; the chance of
    ordering at least once (p_order) and at least twice (p_multiple_orders); churn
    probability = chance of no order within ``churn_horizon_days`` (default 12 months);
    purchase probability = chance of an order within ``purchase_horizon_days`` (default
    30, "likely to buy now"); expected average order value; predicted spend
    (the horizon's CLV); the date by which a next order becomes more likely than not.
    Means with 90% posterior intervals, from the latest fits that passed diagnostics
    (the purchase model, BG/NBD by default, is named in ``purchase_model``). Under a
    model with covariates, also the one or two covariates that move the customer's
    prediction most, in words (``prediction_drivers``).
    """
    account = validate_account(context.partition_key)
    config = config.for_account(landing.account_settings(account).get("predictions"), str(landing.settings_file(account)))
    with duckdb.get_connection() as conn:
        not_fitted = run_sql(conn, read_query("unfitted_models"), {"account": account}).fetchall()
        model = bg = gg = bg_fitted_at = gg_fitted_at = None
        if not not_fitted:
            served = run_sql(
                conn, read_query("served_purchase_model"),
                {"account": account, "purchase_models": list(SERVED_PURCHASE_MODELS)},
            ).fetchone()
            if served is None:
                raise dg.Failure(f"no stored posterior draws of a purchase model for account {account!r}")
            model = served[0]
            bg, bg_fitted_at = load_draws(conn, account, model, config.draws)
            gg, gg_fitted_at = load_draws(conn, account, GAMMA_GAMMA.name, config.draws)
        histories = scoring_rows(conn, account, model)
        channels = dict(run_sql(conn, read_query("covariate_channels_of_account"), {"account": account}).fetchall()) if (
            model in COVARIATE_PURCHASE_MODELS) else {}
    drivers = None
    if not_fitted:
        # an account too small to fit has no predictions (rather than stale ones)
        reason = "; ".join(f"{name}: {why}" for name, why in not_fitted)
        context.log.warning(f"{account}: no predictions: {reason}")
        predictions, draw_totals = empty_predictions(histories)
    else:
        reason = None
        settings = PredictionSettings(
            horizon_days=config.horizon_days,
            purchase_horizon_days=config.purchase_horizon_days,
            churn_horizon_days=config.churn_horizon_days,
            discount_rate=config.discount_rate,
            chunk_rows=config.chunk_rows,
            model=model,
        )
        predictions, draw_totals = predict(histories, bg, gg, settings)
        if model in COVARIATE_PURCHASE_MODELS:
            from clv_assets.stats.explain import level_explanations

            drivers = level_explanations(model, bg, histories, channels, float(config.horizon_days))
    predictions = history_predictions(predictions, drivers)
    distinct_histories = len(histories)
    del histories  # the predictions hold the history columns: let go before the write
    params = {
        "account": account,
        "horizon_days": config.horizon_days,
        "purchase_horizon_days": config.purchase_horizon_days,
        "churn_horizon_days": config.churn_horizon_days,
        "discount_rate": config.discount_rate,
        "purchase_model": model,
        "purchase_model_fitted_at": bg_fitted_at,
        "gamma_gamma_fitted_at": gg_fitted_at,
        "predicted_at": datetime.now(UTC),
    }
    with duckdb.get_connection() as conn:
        conn.register("history_predictions", predictions)
        conn.register("draw_totals", draw_totals)
        register_levels(conn, account, model)
        with transaction(conn):
            replace_account_rows(conn, "predictions.customers", account, read_sql("predictions.customers"), params)
            replace_account_rows(
                conn, "predictions.account_draws", account, read_sql("predictions.account_draws"), params
            )
        metadata = partition_metadata(conn, "predictions.customers", account)
    if reason:
        metadata = {**metadata, "status": "not fitted", "reason": reason}
    return dg.MaterializeResult(
        metadata={**metadata, "distinct_histories": distinct_histories, "purchase_model": model or "none"}
    )
