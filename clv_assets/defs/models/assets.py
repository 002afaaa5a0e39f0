"""Bayesian fits per account: the purchase model (BG/NBD by default; MBG/NBD or Pareto/NBD,
with or without covariates, when configured or chosen by the holdout backtest) and
Gamma-Gamma (spend)."""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from pydantic import field_validator

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets.defs.models.checks import diagnostics_results, fit_check_specs, independence_result
from clv_assets.lib.fit_config import SamplerConfig
from clv_assets.defs.models.pooled import ensure_prior_columns, stored_pooled_prior
from clv_assets.defs.models.refit import FitChoice, choose, fit_settings_identity, stored_fits
from clv_assets.lib.account_settings import AUTO_MODEL, checked_model_name
from clv_assets.lib import plot_process
from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.eligibility import ineligibility_reason, too_small_to_pool
from clv_assets.lib.keys import CUSTOMER_COVARIATES, EVALUATION, GAMMA_GAMMA_FIT, PURCHASE_MODEL_FIT, RFM
from clv_assets.lib.model_rows import training_rows
from clv_assets.lib.resources import LandingZone
from clv_assets.lib.warehouse import column_schema_metadata, partition_metadata, read_query, read_sql, replace_account_rows, run_sql, table_exists, transaction
from clv_assets.defs.models.effects import fit_effects_metadata, stored_fit_effects, write_fit_effects
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, DEFAULT_PURCHASE_MODEL, GAMMA_GAMMA, PURCHASE_MODELS, SERVED_PURCHASE_MODELS
from clv_assets.stats.specs import CLVModel, Posterior


class FitConfig(SamplerConfig):
    """:class:`SamplerConfig` plus the convergence a fit must reach to be served."""

    max_r_hat: float = 1.01
    """A fit is served only if every parameter's r_hat is at most this (blocking check)."""
    min_ess: float = 400.0
    """... and its bulk effective sample size at least this (blocking check)."""
    min_customers_pooled: int = 20
    """An account below min_customers / min_repeat_buyers but with at least this many
    customers is fitted with the pooled prior (models/pooled_prior) ..."""
    min_repeat_buyers_pooled: int = 3
    """... and at least this many repeat buyers ..."""
    min_pooled_accounts: int = 3
    """... when the pooled prior was learnt from at least this many accounts."""
    pooled_prior_for_all: bool = False
    """True: eligible accounts are fitted with the pooled prior too (default: their own priors)."""
    refit_every_days: int = 7
    """A stored fit younger than this many days (its as_of before the run's), of the same model,
    settings and prior and with passing diagnostics, is reused: its draws are scored again,
    nothing is sampled; 0 refits every run. An account's settings file may set
    ``"refit_every_days"`` too, which wins over this default."""
    refit: bool = False
    """True: fit anew whatever is stored (``clv-assets materialize --refit``)."""

    @field_validator("refit_every_days")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"refit_every_days must be 0 (refit every run) or more, got {value}")
        return value


class PurchaseFitConfig(FitConfig):
    """:class:`FitConfig` plus the purchase model: ``bgnbd`` (default), ``mbgnbd``,
    ``pareto_nbd``, one of them with covariates (``bgnbd_covariates``, ...), or ``auto``,
    the model the account's latest holdout backtest (``models/evaluation``) scored best.
    An account's settings file may set ``"model"`` too, which wins over this default."""

    model: str = DEFAULT_PURCHASE_MODEL
    """'bgnbd', 'mbgnbd', 'pareto_nbd', 'bgnbd_covariates', 'mbgnbd_covariates', 'pareto_nbd_covariates' (with the first order's channel and value, features.customer_covariates), or 'auto' (the model the holdout backtest chose)."""

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return checked_model_name(value)


def purchase_model_to_fit(conn, account: str, requested: str) -> tuple[CLVModel, str]:
    """The purchase model to fit for ``account`` and why: the requested one, or with
    ``auto`` the one its latest holdout backtest chose (the default before any backtest)."""
    if requested != AUTO_MODEL:
        return SERVED_PURCHASE_MODELS[requested], f"{requested} requested"
    choice = (
        run_sql(conn, read_query("model_choice_of_account"), {"account": account}).fetchone()
        if table_exists(conn, "models.model_choice")
        else None
    )
    if choice is None:
        return PURCHASE_MODELS[DEFAULT_PURCHASE_MODEL], (
            f"auto: no holdout backtest yet (clv_evaluation_job), default {DEFAULT_PURCHASE_MODEL}"
        )
    chosen, reason, evaluated_at = choice
    return SERVED_PURCHASE_MODELS[chosen], f"auto: backtest of {evaluated_at:%Y-%m-%d} chose {chosen}: {reason}"


def _fit_asset(key: dg.AssetKey, description: str, spec: CLVModel | None = None):
    """The fit asset ``key`` (op ``<last part of key>_fit``): of ``spec``, or with None of
    the account's purchase model (:func:`purchase_model_to_fit`)."""
    name = key.path[-1]
    purchases = spec is None
    with_independence = spec is GAMMA_GAMMA
    # the purchase model's rows are replaced whichever candidate they were from, so an
    # account holds one purchase model's fit and draws
    scope = {"model": tuple(SERVED_PURCHASE_MODELS)} if purchases else {"model": spec.name}
    config_type = PurchaseFitConfig if purchases else FitConfig

    # A multi_asset so that an ineligible account can skip the output and its checks
    # (can_subset) and thereby the downstream predictions.
    @dg.multi_asset(
        name=f"{name}_fit",
        specs=[
            dg.AssetSpec(
                key,
                deps=[RFM, EVALUATION, CUSTOMER_COVARIATES] if purchases else [RFM],
                group_name="models",
                kinds={"pymc", "duckdb"},
                description=description,
                skippable=True,
            )
        ],
        partitions_def=accounts_partitions,
        check_specs=fit_check_specs(key, with_independence),
        can_subset=True,
    )
    def _asset(
        context: dg.AssetExecutionContext, config: config_type, duckdb: DuckDBResource, landing: LandingZone
    ):
        account = validate_account(context.partition_key)
        params = {"account": account}
        requested = None
        account_settings = landing.account_settings(account)  # checked when it was read
        if purchases:
            requested = account_settings.get("model", config.model)
        refit_every_days = account_settings.get("refit_every_days", config.refit_every_days)
        # read, then let go of the database: no connection is held while sampling
        with duckdb.get_connection() as conn:
            model_spec, model_reason = purchase_model_to_fit(conn, account, requested) if purchases else (spec, None)
            cursor = run_sql(conn, read_query("account_eligibility"), params)
            facts = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
            rows = training_rows(conn, account, model_spec)
            population = stored_pooled_prior(conn, model_spec.name)
            stored = stored_fits(conn, account, list(scope["model"]) if purchases else [spec.name])
        status = {
            "account": account,
            "model": model_spec.name,
            "n_customers": facts["n_customers"],
            "n_repeat_buyers": facts["n_repeat_buyers"],
            "as_of": facts["as_of"],
            "attempted_at": datetime.now(UTC),
            "requested_model": requested,
            "model_reason": model_reason,
            "prior": None,
            "fit_choice": None,
            "fitted_as_of": None,
            "fit_age_days": None,
            "refit_every_days": refit_every_days,
        }
        reason = ineligibility_reason(facts, config.min_customers, config.min_repeat_buyers)
        pooled, pooling = pooled_prior_to_use(population, facts, reason, config)
        context.log.info(f"{account}: {model_spec.name}: {pooling}")
        if reason and pooled is not None:
            reason = None
        if reason:
            context.log.warning(f"{account}: {model_spec.name} not fitted: {reason}")
            with duckdb.get_connection() as conn, transaction(conn):
                replace_account_rows(
                    conn, "models.fit_status", account, read_sql("models.fit_status"),
                    {**status, "status": "ineligible", "reason": reason}, scope=scope,
                )
                schema = column_schema_metadata(conn, "models.fits")  # the UI's columns, as after a fit
            # Materialised all the same, so the account's marts still show its history and
            # why nothing is predicted; the checks fail as warnings (nothing was checked)
            # and do not block the predictions, which are cleared for the account.
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={**schema, "status": "ineligible", "reason": reason, "model": model_spec.name, "prior": pooling},
            )
            for spec_ in fit_check_specs(key, with_independence):
                yield dg.AssetCheckResult(
                    asset_key=key,
                    check_name=spec_.name,
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"not evaluated: {model_spec.name} not fitted ({reason})",
                )
            return

        settings = config.settings()
        identity = fit_settings_identity(model_spec.name, settings, pooled)
        choice = choose(
            stored, model_spec, identity, settings, len(rows), facts["as_of"], refit_every_days, config.refit,
            config.max_r_hat, config.min_ess,
        )
        context.log.info(f"{account}: {model_spec.name}: {choice.text}")
        if choice.reuse:
            yield from _reused_fit(duckdb, key, account, status, choice, facts, with_independence, config, scope)
            return

        from clv_assets.stats.fitting import fit, summarize  # PyMC loads only when fitting

        if model_reason:
            context.log.info(f"{account}: fitting {model_spec.name} ({model_reason})")
        from clv_assets.stats.pooled import pooled_priors

        priors = pooled_priors(pooled) if pooled is not None else None
        prior_label = f"pooled prior from {int(pooled['n_accounts'].min())} accounts" if pooled is not None else "default"
        plot_process.start()  # a side-by-side runner's plot helper starts while this fit samples
        posterior = fit(model_spec, rows, settings, priors=priors)
        # stored as scalars: a covariate model's coefficient vectors one row per covariate
        stored_posterior = replace(posterior, draws=model_spec.scalar_draws(posterior.draws))
        plots_drawn = diagnostic_plots(model_spec, stored_posterior, rows)
        summary = summarize(stored_posterior, model_spec.stored_parameters)
        checks = diagnostics_results(
            key, summary, posterior.method, posterior.divergences, config.max_r_hat, config.min_ess
        )
        # before anything is written: a fit whose plots fail leaves the stored fit as it was
        plot_metadata = plots_drawn()
        passed = all(check.passed for check in checks)
        fitted_at = datetime.now(UTC)
        write = {
            **status,
            "divergences": posterior.divergences,
            "n_customers": posterior.n_customers,
            "n_distinct_rows": posterior.n_rows,
            "method": posterior.method,
            "seconds": posterior.seconds,
            "diagnostics_passed": passed,
            "fitted_at": fitted_at,
            "status": "fitted" if passed else "failed_diagnostics",
            "reason": "; ".join(
                [c.check_name for c in checks if not c.passed] + ([prior_label] if pooled is not None else [])
            ) or None,
            "prior": prior_label,
            "fit_settings": identity,
            "fit_choice": choice.text,
            "fitted_as_of": facts["as_of"],
            "fit_age_days": 0,
        }
        with duckdb.get_connection() as conn:
            ensure_prior_columns(conn)
            conn.register("fit_summary", summary)
            conn.register("fit_draws", _long_draws(stored_posterior))
            with transaction(conn):
                replace_account_rows(conn, "models.fits", account, read_sql("models.fits"), write, scope)
                effects = write_fit_effects(conn, account, model_spec, posterior, write) if purchases else None
                if passed:  # failed draws never replace the last good ones
                    replace_account_rows(
                        conn, "models.posterior_draws", account, read_sql("models.posterior_draws"), write, scope
                    )
                replace_account_rows(conn, "models.fit_status", account, read_sql("models.fit_status"), write, scope)
            metadata = partition_metadata(conn, "models.fits", account)
        context.log.info(f"{account}: {model_spec.name} fitted by {posterior.method} in {posterior.seconds:.1f} s")
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                **metadata,
                "model": model_spec.name,
                **({"requested_model": requested, "model_reason": model_reason} if purchases else {}),
                "method": posterior.method,
                "prior": prior_label if pooled is None else f"{prior_label} (models/pooled_prior of {pooled['fitted_at'].max():%Y-%m-%d %H:%M} UTC)",
                "seconds": round(posterior.seconds, 2),
                "n_customers": posterior.n_customers,
                "n_distinct_rows": posterior.n_rows,
                "diagnostics_passed": passed,
                "fit_choice": choice.text,
                "fit_age_days": 0,
                "refit_every_days": refit_every_days,
                "summary": dg.MetadataValue.md(summary.round(4).to_markdown(index=False)),
                **fit_effects_metadata(effects),
                **plot_metadata,
            }
        )
        yield from checks
        if with_independence:
            yield independence_result(key, facts["frequency_spend_correlation"])

    return _asset


SUMMARY_COLUMNS = ["parameter", "mean", "sd", "hdi_5", "hdi_95", "r_hat", "ess_bulk"]


def _reused_fit(
    duckdb: DuckDBResource, key: dg.AssetKey, account: str, status: dict, choice: FitChoice,
    facts: dict, with_independence: bool, config: FitConfig, scope: dict,
):
    """The events of a run that reuses the stored fit: ``models.fit_status`` says so (the
    fit's rows and draws stay as they are), the diagnostics are those of the stored summary
    under today's thresholds (they passed, or it would have been refitted)."""
    stored = choice.stored
    first = stored.iloc[0]
    prior = first["prior"] if isinstance(first["prior"], str) else "default"
    row = {
        **status,
        "status": "fitted",
        "reason": prior if prior != "default" else None,
        "prior": prior,
        "fit_choice": choice.text,
        "fitted_as_of": choice.fitted_as_of,
        "fit_age_days": choice.age_days,
    }
    with duckdb.get_connection() as conn, transaction(conn):
        replace_account_rows(conn, "models.fit_status", account, read_sql("models.fit_status"), row, scope)
        metadata = partition_metadata(conn, "models.fits", account)
        effects = stored_fit_effects(conn, account) if status["model"] in COVARIATE_PURCHASE_MODELS else None
    summary = stored[SUMMARY_COLUMNS].reset_index(drop=True)
    yield dg.MaterializeResult(
        asset_key=key,
        metadata={
            **metadata,
            "model": status["model"],
            **({"requested_model": status["requested_model"], "model_reason": status["model_reason"]}
               if status["requested_model"] is not None else {}),
            "method": first["method"],
            "prior": prior,
            "n_customers": int(first["n_customers"]),
            "n_distinct_rows": int(first["n_distinct_rows"]),
            "diagnostics_passed": True,
            "fit_choice": choice.text,
            "fit_age_days": choice.age_days,
            "fitted_as_of": str(choice.fitted_as_of),
            "fitted_at": pd.Timestamp(first["fitted_at"]).isoformat(),
            "refit_every_days": status["refit_every_days"],
            "summary": dg.MetadataValue.md(summary.round(4).to_markdown(index=False)),
            **fit_effects_metadata(effects),
        },
    )
    yield from diagnostics_results(
        key, summary, first["method"], int(first["divergences"]), config.max_r_hat, config.min_ess, note=choice.text
    )
    if with_independence:
        yield independence_result(key, facts["frequency_spend_correlation"])


def pooled_prior_to_use(
    population: pd.DataFrame | None, facts: dict, reason: str | None, config: FitConfig
) -> tuple[pd.DataFrame | None, str]:
    """The stored pooled prior rows to fit ``account`` with (None: its own priors), and why.

    An account too small for its own fit (``reason``) uses it when it has at least
    ``min_customers_pooled`` customers and ``min_repeat_buyers_pooled`` repeat buyers and
    the prior pools ``min_pooled_accounts`` accounts; an eligible one only with
    ``pooled_prior_for_all``. Otherwise today's eligibility rule and reason stand (the
    account's ``fit_status`` keeps the reason; the why is logged and in the metadata).
    """
    if not reason and not config.pooled_prior_for_all:
        return None, "own priors (eligible)"
    if population is None:
        return None, "own priors: no pooled prior yet (models/pooled_prior)"
    n_accounts = int(population["n_accounts"].min())
    if n_accounts < config.min_pooled_accounts:
        return None, f"own priors: pooled prior from {n_accounts} accounts < min_pooled_accounts {config.min_pooled_accounts}"
    if reason:
        too_small = too_small_to_pool(facts, config.min_customers_pooled, config.min_repeat_buyers_pooled)
        if too_small:
            return None, f"own priors: too small even to pool ({too_small})"
    return population, f"pooled prior from {n_accounts} accounts"


def diagnostic_plots(spec: CLVModel, posterior: Posterior, rows: pd.DataFrame) -> Callable[[], dict[str, dg.MetadataValue]]:
    """Starts drawing the plots of the fit (``plots.fit_images``: in a helper process while
    runs share this one, ``lib/plot_process.py``); the returned function waits for them and
    gives them as inline images (Markdown data URIs the UI renders), plus the numbers
    behind the repeat-order plot."""
    title = f"{spec.name} posterior ({posterior.method}, {posterior.n_customers:,} customers)"
    # the scalar parameters (a covariate model's coefficients are in its effects table instead)
    shown = [name for name in spec.parameters if name in posterior.draws]
    plotted = rows[["frequency", "T", "n"]] if spec.name in PURCHASE_MODELS else None  # what the helper is sent
    pending = plot_process.fit_images(spec.name, posterior.draws, shown, title, plotted)

    def metadata() -> dict[str, dg.MetadataValue]:
        images, counts = pending()
        tables = {}
        if counts is not None:
            tables["repeat_orders"] = dg.MetadataValue.table(
                records=[dg.TableRecord(record) for record in counts.round({"expected": 3}).to_dict("records")],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn("repeat_orders", "string"),
                        dg.TableColumn("actual", "int"),
                        dg.TableColumn("expected", "float"),
                    ]
                ),
            )
        return {name: dg.MetadataValue.md(image) for name, image in images.items()} | tables

    return metadata


def _long_draws(posterior: Posterior) -> pd.DataFrame:
    frames = []
    for name, values in posterior.draws.items():
        chains, draws = values.shape
        frames.append(
            pd.DataFrame(
                {
                    "chain": [c for c in range(chains) for _ in range(draws)],
                    "draw": list(range(draws)) * chains,
                    "parameter": name,
                    "value": values.reshape(-1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


purchase_model_fit = _fit_asset(
    PURCHASE_MODEL_FIT,
    "Posterior of the account's purchase process: how often customers buy and how likely "
    "they are to lapse. BG/NBD (r, alpha, a, b) by default; MBG/NBD or Pareto/NBD "
    "(r, alpha, s, beta) when configured, or with model 'auto' the candidate the account's "
    "holdout backtest (models/evaluation) scored best. One row per parameter in models.fits "
    "(model, mean, sd, 90% HDI, r_hat, ESS, run facts) and why this model in "
    "models.fit_status; the draws in models.posterior_draws feed every per-customer prediction.",
)
gamma_gamma_fit = _fit_asset(
    GAMMA_GAMMA_FIT,
    "Posterior of the account's spend process (Gamma-Gamma, parameters p, q, v): how much a "
    "customer spends per order and how much that varies between customers, fitted on "
    "repeat buyers. Feeds the expected order value and predicted spend.",
    GAMMA_GAMMA,
)
