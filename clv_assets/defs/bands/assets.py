"""Bands: each customer's history and predictions relative to the account's normal behaviour."""

from dataclasses import replace

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.band_config import BandThresholds
from clv_assets.lib.draws import load_draws
from clv_assets.lib.keys import CUSTOMER_BANDS, CUSTOMER_PREDICTIONS
from clv_assets.lib.model_rows import band_count_rows, register_levels, scoring_rows
from clv_assets.lib.resources import LandingZone
from clv_assets.lib.warehouse import partition_metadata, read_query, read_sql, replace_account_rows, run_sql, transaction
from clv_assets.stats.band_confidence import band_draw_counts, count_dtype, with_count_columns
from clv_assets.stats.bands import LABELS
from clv_assets.stats.predict import (
    PredictionSettings,
    aligned_draws,
    base_model_groups,
    in_index_order,
    in_row_order,
    map_chunks,
)
from clv_assets.stats.registry import GAMMA_GAMMA


@dg.asset(
    key=["bands", "thresholds"],
    deps=[CUSTOMER_PREDICTIONS],
    partitions_def=accounts_partitions,
    group_name="bands",
    kinds={"duckdb"},
)
def band_thresholds(
    context: dg.AssetExecutionContext, config: BandThresholds, duckdb: DuckDBResource, landing: LandingZone
):
    """The cut-offs that turn customers' figures into bands, and the account averages they
    are relative to: what "above average" or "High tier" means for this account today.

    Defaults and run config, overridden per account by ``"bands"`` in the landing
    folder's ``_account.json``.
    """
    account = validate_account(context.partition_key)
    overrides = landing.account_settings(account).get("bands")
    thresholds = config.for_account(overrides, str(landing.settings_file(account)))
    params = {"account": account, **thresholds.model_dump(), "overridden": sorted(overrides or {})}
    with duckdb.get_connection() as conn:
        with transaction(conn):
            replace_account_rows(conn, "bands.thresholds", account, read_sql("bands.thresholds"), params)
        metadata = partition_metadata(conn, "bands.thresholds", account)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=CUSTOMER_BANDS,
    deps=[band_thresholds],
    partitions_def=accounts_partitions,
    group_name="bands",
    kinds={"duckdb"},
)
def customer_bands(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """Every customer's bands: how many orders ('1 order' ... '5+ orders'), historical and
    predicted spend and predicted order value relative to the account average, order
    likelihood, High/Medium/Low predicted spend tier, churn and purchase-probability bands.

    Each predicted band comes with its confidence: the posterior probability that the
    customer is in the band shown. A low value marks a customer near a band edge or with
    little history, so a campaign can leave them out.
    """
    account = validate_account(context.partition_key)
    params = {"account": account, **LABELS}
    with duckdb.get_connection() as conn:
        thresholds = run_sql(conn, "SELECT * FROM bands.thresholds WHERE account = $account", params).df()
        totals = run_sql(conn, read_query("account_draws_of_account"), params).df()
        # an account without predictions has no band confidence
        model = None if totals.empty else totals["purchase_model"].iloc[0]
        histories = scoring_rows(conn, account, model)
        if model:
            horizons = run_sql(conn, read_query("prediction_horizons"), params).df().iloc[0].to_dict()
            purchases, _ = load_draws(conn, account, model, len(totals))
            gg, _ = load_draws(conn, account, GAMMA_GAMMA.name, len(totals))
    counts = _band_draw_counts(histories, thresholds.iloc[0].to_dict(), totals, horizons, model, purchases, gg) if model else None
    params["draws"] = len(totals)
    # joined back on the history and, under a covariate model, the covariate level
    rows = band_count_rows(with_count_columns(histories, counts), histories)
    # the rows hold copies of both, which are let go before the write
    del histories, counts
    with duckdb.get_connection() as conn:
        conn.register("band_draw_counts", rows)
        register_levels(conn, account, model)
        with transaction(conn):
            replace_account_rows(conn, "bands.customers", account, read_sql("bands.customers"), params)
        metadata = partition_metadata(conn, "bands.customers", account)
    return dg.MaterializeResult(metadata=metadata)


# per-draw account means of the relative predicted bands: predictions.account_draws column of each sum
ACCOUNT_MEANS = {
    "predicted_spend": "total_predicted_spend",
    "expected_aov": "sum_expected_aov",
    "p_order": "expected_customers_ordering",
    "p_multiple_orders": "expected_customers_ordering_multiple",
    "purchase_probability": "expected_customers_purchasing",
}


def _band_draw_counts(
    histories: pd.DataFrame, thresholds: dict, totals: pd.DataFrame, horizons: dict, model: str, purchases: dict, gg: dict
) -> pd.DataFrame:
    """Per distinct history, how many of the draws behind the account's predictions
    (purchase model ``model``) put it in each predicted band."""
    customers = thresholds["customers"]
    means = {name: totals[column].to_numpy(float) / customers for name, column in ACCOUNT_MEANS.items()}
    settings = PredictionSettings(
        horizon_days=float(totals["horizon_days"].iloc[0]),
        purchase_horizon_days=float(horizons["purchase_horizon_days"]),
        churn_horizon_days=float(horizons["churn_horizon_days"]),
        discount_rate=float(totals["discount_rate"].iloc[0]),
        model=model,
    )
    frames = []
    for where, base, params in base_model_groups(histories, purchases, model):  # one group without covariates
        rows = histories.iloc[where]
        bg, gg_ = aligned_draws(params, gg, base)
        order, parts = map_chunks(
            rows, bg, gg_, replace(settings, model=base),
            lambda chunk, draws: band_draw_counts(draws, thresholds, means),
        )
        frames.append(in_row_order(parts, list(parts[0]) if parts else [], order, rows.index, count_dtype(len(totals))))
    return in_index_order(frames, histories.index) if frames else pd.DataFrame(index=histories.index)
