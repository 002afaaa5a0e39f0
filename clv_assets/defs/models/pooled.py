"""models/pooled_prior: the population distribution of the model parameters, learnt from
the accounts fitted with their own priors, and the sensor that refreshes it.

The fits read the stored prior from the warehouse (``models.pooled_prior``) instead of
declaring it as a dependency: the prior depends on the fits of all accounts, so a declared
edge back would be a cycle. Accounts fitted with the pooled prior are not inputs of the
next one (``prior`` column of ``models.posterior_draws``), so it never feeds on itself.

Refreshed by :data:`pooled_prior_sensor`, not on every run: the prior changes little when
one account is refitted, and an AutomationCondition can only say "any upstream partition
updated" (every account run), not "enough accounts have new fits". The sensor requests a
run when ``clv_assets.lib.pooled_refresh`` says the prior is due (enough accounts with an
own-prior fit newer than the stored prior); ``clv-assets materialize`` follows the same rule.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets.lib.keys import GAMMA_GAMMA_FIT, POOLED_PRIOR, PURCHASE_MODEL_FIT
from clv_assets.lib.pooled_refresh import ensure_prior_columns, pooled_prior_refresh_due
from clv_assets.lib.warehouse import partition_metadata, read_query, read_sql, replace_table, run_sql, table_exists, transaction
from clv_assets.stats.gamma_gamma import spend_scale
from clv_assets.stats.pooled import account_summary, fit_population, population_interval
from clv_assets.stats.registry import GAMMA_GAMMA, MODELS

# The prior is relearnt only when POOLED_REFRESH_NEW_FITS accounts have new own-prior fits,
# so the 36 h policy of the per-account assets does not apply: with accounts refitted daily
# it is relearnt within days; a week without a refresh means the sensor is off or no
# account is being fitted, which the UI should show.
POOLED_PRIOR_MAX_AGE = timedelta(days=7)


def learn_population(conn) -> pd.DataFrame:
    """One row per model x pooled variable (``models.pooled_prior``'s columns but ``fitted_at``)."""
    draws = run_sql(conn, read_query("pooled_prior_inputs")).df()
    frames = []
    for (model, account), group in draws.groupby(["model", "account"], sort=True):
        if model not in MODELS:  # a covariate model's coefficients are not pooled across accounts
            continue
        values = {p: g["value"].to_numpy(float) for p, g in group.groupby("parameter")}
        if model == GAMMA_GAMMA.name:
            rows = run_sql(conn, read_query(GAMMA_GAMMA.training_rows), {"account": account}).df()
            values["v_scaled"] = values["v"] / spend_scale(rows)
        summary = account_summary(values, MODELS[model].pooled_variables)
        frames.append(summary.assign(model=model, account=account, as_of=group["as_of"].max(), fitted_at=group["fitted_at"].max()))
    if not frames:
        return pd.DataFrame()
    summaries = pd.concat(frames, ignore_index=True)
    parts = []
    for model, group in summaries.groupby("model", sort=True):
        accounts = sorted(group["account"].unique())
        if len(accounts) < 2:
            continue
        parts.append(
            fit_population(group).assign(
                model=model,
                accounts=",".join(accounts),
                inputs_as_of=group["as_of"].max(),
                inputs_fitted_through=group["fitted_at"].max(),
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@dg.asset(
    key=POOLED_PRIOR,
    deps=[PURCHASE_MODEL_FIT, GAMMA_GAMMA_FIT],
    group_name="models",
    kinds={"duckdb"},
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=POOLED_PRIOR_MAX_AGE),
    description=(
        "What the fitted accounts taught: per model and parameter a lognormal (logit-normal "
        "for a probability) population distribution on the day-scaled, currency-free scale "
        "the fits sample, learnt by empirical Bayes from the posteriors of the accounts "
        "fitted with their own priors (between-account spread plus within-account "
        "uncertainty). An account too small to fit alone is fitted with it. Inputs (accounts, "
        "as of, fitted through) are stored with it. Refreshed by pooled_prior_sensor."
    ),
)
def pooled_prior(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        ensure_prior_columns(conn)
        population = learn_population(conn) if table_exists(conn, "models.posterior_draws") else pd.DataFrame()
        if population.empty:
            raise dg.Failure("no model is fitted on 2 or more accounts yet: nothing to pool", allow_retries=False)
        fitted_at = datetime.now(UTC)
        conn.register("population", population)
        with transaction(conn):
            replace_table(conn, "models.pooled_prior", read_sql("models.pooled_prior"), {"fitted_at": fitted_at})
        conn.unregister("population")
        metadata = partition_metadata(conn, "models.pooled_prior", None)
    shown = pd.concat(
        [population_interval(g).assign(model=m, n_accounts=g["n_accounts"].iloc[0]) for m, g in population.groupby("model")],
        ignore_index=True,
    )[["model", "parameter", "n_accounts", "median", "low", "high", "sigma"]]
    context.log.info(f"pooled prior of {population['model'].nunique()} model(s) learnt")
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "accounts": dg.MetadataValue.json({m: g["accounts"].iloc[0].split(",") for m, g in population.groupby("model")}),
            "n_accounts": int(population["n_accounts"].max()),
            "inputs_as_of": str(population["inputs_as_of"].max()),
            "inputs_fitted_through": str(population["inputs_fitted_through"].max()),
            "prior (median, 90% interval)": dg.MetadataValue.md(shown.round(4).to_markdown(index=False)),
        }
    )


def stored_pooled_prior(conn, model: str) -> pd.DataFrame | None:
    """The stored pooled prior of ``model``, or None before the first one."""
    if not table_exists(conn, "models.pooled_prior"):
        return None
    prior = run_sql(conn, read_query("pooled_prior_of_model"), {"model": model}).df()
    return prior if len(prior) else None


@dg.sensor(
    asset_selection=[POOLED_PRIOR],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def pooled_prior_sensor(context: dg.SensorEvaluationContext, duckdb: DuckDBResource):
    """Refresh models/pooled_prior when enough accounts have new own-prior fits (see module)."""
    with duckdb.get_connection() as conn:
        due, reason = pooled_prior_refresh_due(conn)
    if not due:
        return dg.SkipReason(reason)
    return dg.RunRequest(run_key=f"pooled_prior_{np.datetime64(datetime.now(UTC).replace(tzinfo=None), 's')}")
