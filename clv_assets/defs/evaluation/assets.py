"""Holdout backtests of the candidate purchase models per account, and the model choice."""

import json
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource
from pydantic import field_validator

from clv_assets.defs.evaluation.segment_lift import segment_lift_at_cutoff
from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.band_config import BandThresholds
from clv_assets.lib.config import checked_iso_date, iso_date
from clv_assets.lib.eligibility import ineligibility_reason
from clv_assets.lib.fit_config import SamplerConfig
from clv_assets.lib.keys import CUSTOMER_TRANSACTIONS, EVALUATION
from clv_assets.lib.prediction_config import HORIZONS, PredictionConfig
from clv_assets.lib.resources import LandingZone
from clv_assets.lib.segments import SegmentDefinitionError, load_segments
from clv_assets.lib.warehouse import (
    column_schema_metadata,
    column_types,
    partition_metadata,
    read_query,
    read_sql,
    replace_account_rows,
    run_sql,
    table_exists,
    transaction,
)
from clv_assets.stats.evaluation import backtest, metrics
from clv_assets.stats.evaluation.choice import CANDIDATES, CHOICE_SCORE, DEFAULT_MODEL, choose_model
from clv_assets.stats.numerics import thin
from clv_assets.stats.purchase.bgnbd_covariates import GRID_PARAMETERS, LEVEL_KEYS, no_effects
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, GAMMA_GAMMA, PURCHASE_MODELS

# candidates a backtest may be given: the purchase models, and those with covariates
# (opt-in: a NUTS fit each, on the customers' covariates as of the cutoff)
KNOWN_CANDIDATES = (*CANDIDATES, *COVARIATE_PURCHASE_MODELS)


class EvaluationConfig(SamplerConfig):
    """Backtest window, candidates and fit method.

    ``method: auto`` fits BG/NBD and MBG/NBD by NUTS up to ``max_mcmc_rows`` distinct
    histories (Laplace above) and Pareto/NBD by Laplace (see ``CLVModel.nuts_by_default``).
    The best candidate is recorded in models.model_choice; an account whose purchase
    model is ``auto`` (``models/purchase_model``) is then fitted and served with it.
    """

    cutoff: str | None = None  # YYYY-MM-DD, end of calibration; default: holdout_fraction before holdout_end
    holdout_end: str | None = None  # YYYY-MM-DD; default: the account's last transaction
    holdout_fraction: float = 1 / 3
    """Share of the observed window held out when no cutoff is given."""
    candidates: list[str] = list(CANDIDATES)
    """The purchase models compared; 'bgnbd_covariates', 'mbgnbd_covariates' or 'pareto_nbd_covariates' (with the first order's channel and value; fitted by NUTS) may be added, beside their base model."""
    draws: int = 500  # fewer than a served fit: every candidate is fitted
    tune: int = 500  # NUTS warm-up steps per chain
    predictive_draws: int = 200  # posterior draws used for the predictive quantities

    _dates = field_validator("cutoff", "holdout_end")(checked_iso_date)

    @field_validator("candidates")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in KNOWN_CANDIDATES]
        if unknown or not value:
            raise ValueError(f"candidates must be a non-empty subset of {list(KNOWN_CANDIDATES)}, got {value}")
        bases = [COVARIATE_PURCHASE_MODELS[c].base for c in value if c in COVARIATE_PURCHASE_MODELS]
        if any(base not in value for base in bases):
            raise ValueError(f"a covariate candidate is compared with its base model: add {sorted(set(bases) - set(value))} to the candidates")
        return value


@dg.asset(
    key=EVALUATION,
    deps=[CUSTOMER_TRANSACTIONS],
    partitions_def=accounts_partitions,
    group_name="models",
    kinds={"pymc", "duckdb"},
)
def evaluation(context: dg.AssetExecutionContext, config: EvaluationConfig, duckdb: DuckDBResource, landing: LandingZone):
    """How good the account's predictions are, measured on orders the models did not see.

    Each candidate purchase model (BG/NBD, MBG/NBD, Pareto/NBD) is fitted on the history up
    to a cutoff (default: the last third of the observed window is held out) and its
    predictions for the holdout are compared with what customers did: aggregate forecast
    error of repeat orders, per-customer error, calibration of "will order" by decile,
    ranking of predicted spend, and coverage of 90% predictive intervals. Writes
    models.evaluation (scorecard), models.evaluation_calibration (deciles),
    models.evaluation_tracking (cumulative orders by day), models.evaluation_segments
    (segment lift: the segments of sql/marts/segments.yaml as of the cutoff, with the
    chosen model, against what their members and a comparison group did in the holdout;
    the account's band cut-offs and horizons: the defaults with its ``_account.json``
    overrides, as the account's own bands and predictions get them)
    and models.model_choice (the model the account uses, with the reason). Tracking and calibration plots are in the
    materialisation metadata.
    """
    account = validate_account(context.partition_key)
    # the segments as the account gets them: its band and horizon overrides (checked before any fit)
    settings, source = landing.account_settings(account), str(landing.settings_file(account))
    thresholds = BandThresholds().for_account(settings.get("bands"), source)
    horizons = PredictionConfig().for_account(settings.get("predictions"), source)
    params = {"account": account}
    with duckdb.get_connection() as conn:
        first, last, n_tx = run_sql(conn, read_query("evaluation_window"), params).fetchone()
        if not n_tx:
            raise dg.Failure(f"account {account!r} has no clean transactions to evaluate")
        try:
            window = backtest.backtest_window(first, last, iso_date(config.cutoff), iso_date(config.holdout_end), config.holdout_fraction)
        except ValueError as exc:
            raise dg.Failure(f"account {account!r}: {exc}") from None
        params |= {"cutoff": window.cutoff, "holdout_end": window.holdout_end, "start": window.start, "as_of": window.cutoff}
        # the production RFM SQL, as of the cutoff: calibration features are the features
        rfm = run_sql(conn, read_sql("features.rfm"), params).df()
        holdout = run_sql(conn, read_query("evaluation_holdout"), params).df()
        daily = run_sql(conn, read_query("evaluation_daily"), params).df()
        covariates = (
            run_sql(conn, read_sql("features.customer_covariates"), {**params, "top_channels": 3, **GRID_PARAMETERS}).df()
            if any(c in COVARIATE_PURCHASE_MODELS for c in config.candidates) else None
        )
    customers = rfm.merge(holdout, on="customer_id", how="left", validate="one_to_one")
    evaluated_at = datetime.now(UTC)
    facts = {
        "n_customers": len(customers),
        "n_repeat_buyers": int(((customers.frequency > 0) & (customers.monetary_value > 0)).sum()),
    }
    reason = ineligibility_reason(facts, config.min_customers, config.min_repeat_buyers)
    if reason:
        context.log.warning(f"{account}: not evaluated: {reason}")
        choice = {
            "chosen_model": DEFAULT_MODEL, "score_name": CHOICE_SCORE, "score": None,
            "reason": f"not evaluated ({reason}); default model kept", "candidates_compared": "",
        }
        with duckdb.get_connection() as conn, transaction(conn):
            _write_choice(conn, account, choice, window, evaluated_at)
            schema = column_schema_metadata(conn, "models.evaluation")  # the UI's columns, as after a backtest
        return dg.MaterializeResult(metadata={**schema, "status": "ineligible", "reason": reason, "cutoff": str(window.cutoff)})

    from clv_assets.stats.fitting import fit  # PyMC loads only when fitting
    from clv_assets.stats.plots import calibration_plot, markdown_image, tracking_plot

    histories, index = backtest.distinct_histories(customers)
    spend_rows = (
        customers[(customers.frequency > 0) & (customers.monetary_value > 0)]
        .groupby(["frequency", "monetary_value"]).size().rename("n").reset_index()
    )
    gg = fit(GAMMA_GAMMA, spend_rows, config.settings())
    aov = backtest.expected_order_value(thin(gg.draws, config.predictive_draws), customers)
    scores, deciles, tracks, candidate_draws, effects = [], [], [], {}, [no_effects().assign(model=pd.Series(dtype="object"))]
    actual_cumulative = np.cumsum(daily["repeat_orders"].to_numpy())
    for model in config.candidates:
        if model in COVARIATE_PURCHASE_MODELS:
            posterior, figures, calibration, predicted_cumulative, model_effects = _covariate_candidate(
                model, customers, covariates, aov, window, len(daily), config
            )
            effects.append(model_effects.assign(model=model))
            candidate_draws[model] = COVARIATE_PURCHASE_MODELS[model].thin(posterior.draws, config.predictive_draws)
        else:
            posterior = fit(PURCHASE_MODELS[model], histories, config.settings())
            draws = thin(posterior.draws, config.predictive_draws)
            candidate_draws[model] = draws
            summary = backtest.predictive_summary(model, draws, histories, float(window.holdout_days))
            figures, calibration = metrics.score(summary.iloc[index].reset_index(drop=True), customers, aov)
            predicted_cumulative = backtest.tracking(model, draws, daily)
        spec = COVARIATE_PURCHASE_MODELS.get(model) or PURCHASE_MODELS[model]
        scores.append(
            {
                "model": model,
                "method": posterior.method,
                **figures,
                "tracking_error_pct": metrics.tracking_error_pct(actual_cumulative, predicted_cumulative),
                "parameters": json.dumps({k: _posterior_mean(v) for k, v in posterior.draws.items() if k in spec.parameters}),
                "max_r_hat": _max_r_hat(posterior),
                "n_draws": len(next(iter(draws.values()))),
                "fit_seconds": posterior.seconds,
            }
        )
        deciles.append(calibration.assign(model=model))
        tracks.append(
            pd.DataFrame(
                {
                    "model": model,
                    "day_date": daily["day_date"],
                    "actual_cumulative": actual_cumulative,
                    "predicted_cumulative": predicted_cumulative,
                }
            )
        )
        context.log.info(f"{account}: {model} by {posterior.method}: " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()))
    scores = pd.DataFrame(scores)
    deciles, tracks = pd.concat(deciles, ignore_index=True), pd.concat(tracks, ignore_index=True)
    choice = choose_model(scores)  # a winning covariate model is fitted and served (models/purchase_model)
    lift_model = choice["chosen_model"] if choice["chosen_model"] in candidate_draws else config.candidates[0]
    try:
        segments = load_segments()
    except SegmentDefinitionError as exc:
        raise dg.Failure(str(exc)) from None
    if lift_model in COVARIATE_PURCHASE_MODELS:  # the segments as the chosen model ranks them: with each customer's level
        rfm = rfm.merge(covariates[["customer_id", *LEVEL_KEYS]], on="customer_id", how="left", validate="one_to_one")
    lift = segment_lift_at_cutoff(
        account, rfm, holdout, candidate_draws[lift_model], thin(gg.draws, config.predictive_draws), lift_model, segments,
        thresholds, {name: getattr(horizons, name) for name in HORIZONS},
    )
    write = {**params, "holdout_days": window.holdout_days, "evaluated_at": evaluated_at, "purchase_model": lift_model}
    with duckdb.get_connection() as conn:
        conn.register("evaluation_segment_lift", lift)
        conn.register("evaluation_scores", scores)
        conn.register("evaluation_deciles", deciles)
        conn.register("evaluation_track", tracks)
        effects = pd.concat(effects, ignore_index=True)
        conn.register("evaluation_effect_rows", effects)
        with transaction(conn):
            _widen_max_r_hat(conn)
            for table in (
                "models.evaluation", "models.evaluation_calibration", "models.evaluation_tracking", "models.evaluation_segments",
                "models.evaluation_effects",
            ):
                replace_account_rows(conn, table, account, read_sql(table), write)
            _write_choice(conn, account, choice, window, evaluated_at)
        metadata = partition_metadata(conn, "models.evaluation", account)
    shown = scores.set_index("model")[["method", "aggregate_error_pct", "tracking_error_pct", "mae_orders", "brier_p_order", "auc_top_decile_spend", "auc_one_time_repeat", "gini_spend", "interval_coverage", "interval_expected_coverage"]]
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "cutoff": str(window.cutoff),
            "holdout": f"{window.cutoff} < day <= {window.holdout_end} ({window.holdout_days} days)",
            "n_customers": len(customers),
            "chosen_model": choice["chosen_model"],
            "choice_reason": choice["reason"],
            "scorecard": dg.MetadataValue.md(shown.round(4).to_markdown()),
            "tracking_plot": dg.MetadataValue.md(markdown_image(tracking_plot(tracks, window), "tracking plot")),
            "segment_lift": dg.MetadataValue.md(
                lift.set_index("segment")[["members", "comparison_customers", "order_rate_lift", "order_rate_lift_p05", "order_rate_lift_p95", "spend_lift"]]
                .round(3).to_markdown()
            ),
            "calibration_plot": dg.MetadataValue.md(markdown_image(calibration_plot(deciles), "calibration plot")),
            **({"covariate_effects": dg.MetadataValue.md(
                effects.set_index(["model", "coefficient", "covariate"])[["level", "ratio", "ratio_low", "ratio_high"]].round(3).to_markdown()
            )} if len(effects) else {}),
        }
    )


def _widen_max_r_hat(conn) -> None:
    """A warehouse whose first backtest had no MCMC fit typed max_r_hat as INTEGER (all
    NULL): widen it, or later r_hat values would be cut to whole numbers on insert."""
    if table_exists(conn, "models.evaluation") and column_types(conn, "models.evaluation").get("max_r_hat") != "DOUBLE":
        conn.execute("ALTER TABLE models.evaluation ALTER max_r_hat TYPE DOUBLE")


def _max_r_hat(posterior) -> float | None:
    if posterior.method != "mcmc":
        return None
    import arviz as az

    # a coefficient vector (chains, draws, covariates): the r-hat of each component
    return float(max(az.rhat(c) for v in posterior.draws.values() for c in np.moveaxis(np.atleast_3d(v), -1, 0)))


def _posterior_mean(values):
    """A parameter's posterior mean for the scorecard: a number, or a list per covariate."""
    mean = np.asarray(values, float).reshape(-1, *np.shape(values)[2:]).mean(axis=0)
    return round(float(mean), 6) if mean.ndim == 0 else [round(float(m), 6) for m in mean]


def _covariate_candidate(model, customers, covariates, aov, window, n_days, config):
    """Fit a covariate model on the calibration customers' distinct (history, covariates)
    rows as the served fit does (NUTS, or Laplace above ``max_mcmc_rows``) and score it as
    the others: its posterior, figures, deciles and tracking curve."""
    from clv_assets.stats.evaluation.backtest import covariate_predictive_summary, covariate_tracking
    from clv_assets.stats.fitting import fit
    from clv_assets.stats.purchase.bgnbd_covariates import covariate_columns, covariate_levels, distinct_rows

    spec = COVARIATE_PURCHASE_MODELS[model]
    covs = customers[["customer_id"]].merge(covariates, on="customer_id", how="left", validate="one_to_one")
    if covs["first_channel_rank"].isna().any():
        raise dg.Failure(f"{model}: customers without covariates as of the cutoff")
    rows = pd.concat([customers[["frequency", "recency", "T", "first_order_date"]], covariate_columns(covs)], axis=1)
    posterior = fit(spec, distinct_rows(rows.drop(columns="first_order_date")), config.settings())
    draws = spec.thin(posterior.draws, config.predictive_draws)
    keys = [*spec.columns]
    distinct, inverse = np.unique(rows[keys].to_numpy(float), axis=0, return_inverse=True)
    summary = covariate_predictive_summary(model, draws, pd.DataFrame(distinct, columns=keys), float(window.holdout_days))
    figures, calibration = metrics.score(summary.iloc[inverse.reshape(-1)].reset_index(drop=True), customers, aov)
    table = spec.effects(posterior.draws)
    table["level"] = table["covariate"].map(covariate_levels(covs.groupby("first_channel_rank")["first_channel"].first().to_dict()))
    return posterior, figures, calibration, covariate_tracking(model, draws, rows, window.start, n_days), table


def _write_choice(conn, account: str, choice: dict, window: backtest.Window, evaluated_at: datetime) -> None:
    params = {**choice, "account": account, "cutoff": window.cutoff, "evaluated_at": evaluated_at}
    replace_account_rows(conn, "models.model_choice", account, read_sql("models.model_choice"), params)
