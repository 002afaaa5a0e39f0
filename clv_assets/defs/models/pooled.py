"""models/pooled_prior: the population distribution of the model parameters, learnt from
the accounts fitted with their own priors, and the sensor that refreshes it.

The fits read the stored prior from the warehouse (``models.pooled_prior``) instead of
declaring it as a dependency: the prior depends on the fits of all accounts, so a declared
edge back would be a cycle. Accounts fitted with the pooled prior are not inputs of the
next one (``prior`` column of ``models.posterior_draws``), so it never feeds on itself.

Refreshed by :data:`pooled_prior_sensor`, not on every run: the prior changes little when
one account is refitted, and an AutomationCondition can only say "any upstream partition
updated" (every account run), not "enough accounts have new fits". The sensor counts in the
warehouse the accounts whose own-prior fit is newer than the stored prior and requests a
run when there are ``POOLED_REFRESH_NEW_FITS`` of them (or, before the first prior, when
``MIN_POOLED_ACCOUNTS`` accounts are fitted).
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets.lib.keys import GAMMA_GAMMA_FIT, POOLED_PRIOR, PURCHASE_MODEL_FIT
from clv_assets.lib.warehouse import read_query, read_sql, run_sql, table_exists, transaction
from clv_assets.stats.gamma_gamma import spend_scale
from clv_assets.stats.pooled import account_summary, fit_population, population_interval
from clv_assets.stats.registry import GAMMA_GAMMA, PURCHASE_MODELS

MIN_POOLED_ACCOUNTS = 3  # fewer fitted accounts: no pooled prior is used
POOLED_REFRESH_NEW_FITS = 3  # accounts with a newer own-prior fit that trigger a refresh
# The prior is relearnt only when POOLED_REFRESH_NEW_FITS accounts have new own-prior fits,
# so the 36 h policy of the per-account assets does not apply: with accounts refitted daily
# it is relearnt within days; a week without a refresh means the sensor is off or no
# account is being fitted, which the UI should show.
POOLED_PRIOR_MAX_AGE = timedelta(days=7)
PRIOR_TABLES = ("models.fits", "models.fit_status", "models.posterior_draws")

# the variables each model samples, pooled: its ``priors()`` keys (Gamma-Gamma's v as v_scaled)
POOLED_VARIABLES = {
    **{name: ("r", "alpha", "phi_dropout", "kappa_dropout") for name in ("bgnbd", "mbgnbd")},
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    GAMMA_GAMMA.name: ("p", "q", "v_scaled"),
}
assert set(POOLED_VARIABLES) == {*PURCHASE_MODELS, GAMMA_GAMMA.name}


def ensure_prior_columns(conn) -> None:
    """Warehouses from before the pooled prior lack the ``prior`` column: every fit there used its own prior."""
    for table in PRIOR_TABLES:
        if table_exists(conn, table):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS prior VARCHAR")


def learn_population(conn) -> pd.DataFrame:
    """One row per model x pooled variable (``models.pooled_prior``'s columns but ``fitted_at``)."""
    draws = run_sql(conn, read_query("pooled_prior_inputs")).df()
    frames = []
    for (model, account), group in draws.groupby(["model", "account"], sort=True):
        values = {p: g["value"].to_numpy(float) for p, g in group.groupby("parameter")}
        if model == GAMMA_GAMMA.name:
            rows = run_sql(conn, read_query(GAMMA_GAMMA.training_rows), {"account": account}).df()
            values["v_scaled"] = values["v"] / spend_scale(rows)
        summary = account_summary(values, POOLED_VARIABLES[model])
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
            conn.execute("CREATE SCHEMA IF NOT EXISTS models")
            run_sql(conn, f"CREATE OR REPLACE TABLE models.pooled_prior AS {read_sql('models.pooled_prior')}", {"fitted_at": fitted_at})
        conn.unregister("population")
    shown = pd.concat(
        [population_interval(g).assign(model=m, n_accounts=g["n_accounts"].iloc[0]) for m, g in population.groupby("model")],
        ignore_index=True,
    )[["model", "parameter", "n_accounts", "median", "low", "high", "sigma"]]
    context.log.info(f"pooled prior of {population['model'].nunique()} model(s) learnt")
    return dg.MaterializeResult(
        metadata={
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
        if not table_exists(conn, "models.posterior_draws"):
            return dg.SkipReason("no account is fitted yet")
        ensure_prior_columns(conn)
        learnt_at = None
        if table_exists(conn, "models.pooled_prior"):
            learnt_at = conn.execute("SELECT max(fitted_at) FROM models.pooled_prior").fetchone()[0]
        n_fitted, n_new = run_sql(conn, read_query("pooled_prior_staleness"), {"learnt_at": learnt_at}).fetchone()
    needed = MIN_POOLED_ACCOUNTS if learnt_at is None else POOLED_REFRESH_NEW_FITS
    if n_fitted < MIN_POOLED_ACCOUNTS or n_new < needed:
        return dg.SkipReason(f"{n_new} account(s) with new fits of {n_fitted} fitted; a refresh needs {needed}")
    return dg.RunRequest(run_key=f"pooled_prior_{np.datetime64(datetime.now(UTC).replace(tzinfo=None), 's')}")
