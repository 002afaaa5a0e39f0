"""Bayesian BG/NBD (purchases) and Gamma-Gamma (spend) fits per account."""

from datetime import UTC, datetime
from typing import Literal

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets.defs.features.assets import rfm
from clv_assets.defs.models.checks import diagnostics_results, fit_check_specs, independence_result
from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.warehouse import partition_metadata, read_sql, replace_account_rows, run_sql, transaction
from clv_assets.models.specs import BGNBD, GAMMA_GAMMA, CLVModelSpec, FitSettings, Posterior


MAX_PLOTTED_FREQUENCY = 50  # rows of the P(alive) matrix plot


class FitConfig(dg.Config):
    """How to fit, and when an account has too little data to try."""

    method: Literal["auto", "mcmc", "laplace", "map"] = "auto"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    random_seed: int = 42
    max_mcmc_rows: int = 20_000  # auto: NUTS up to this many distinct rows, Laplace above
    min_customers: int = 100
    min_repeat_buyers: int = 30
    max_r_hat: float = 1.01
    min_ess: float = 400.0

    def settings(self) -> FitSettings:
        return FitSettings(
            method=self.method,
            draws=self.draws,
            tune=self.tune,
            chains=self.chains,
            random_seed=self.random_seed,
            max_mcmc_rows=self.max_mcmc_rows,
        )


def ineligibility_reason(facts: dict, config: FitConfig) -> str | None:
    """Why an account is not fitted, or None when it has enough data."""
    if facts["n_customers"] < config.min_customers:
        return f"{facts['n_customers']} customers < min_customers {config.min_customers}"
    if facts["n_repeat_buyers"] < config.min_repeat_buyers:
        return f"{facts['n_repeat_buyers']} repeat buyers < min_repeat_buyers {config.min_repeat_buyers}"
    return None


def _fit_asset(spec: CLVModelSpec, description: str):
    key = dg.AssetKey(["models", spec.name])
    with_independence = spec is GAMMA_GAMMA

    # A multi_asset so that an ineligible account can skip the output and its checks
    # (can_subset) and thereby the downstream predictions.
    @dg.multi_asset(
        name=f"{spec.name}_fit",
        specs=[
            dg.AssetSpec(
                key,
                deps=[rfm],
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
    def _asset(context: dg.AssetExecutionContext, config: FitConfig, duckdb: DuckDBResource):
        account = validate_account(context.partition_key)
        params = {"account": account}
        # read, then let go of the database: no connection is held while sampling
        with duckdb.get_connection() as conn:
            cursor = run_sql(conn, read_sql("models.account_eligibility"), params)
            facts = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
            rows = run_sql(conn, read_sql(f"models.{spec.name}_training_rows"), params).df()
        status = {
            "account": account,
            "model": spec.name,
            "n_customers": facts["n_customers"],
            "n_repeat_buyers": facts["n_repeat_buyers"],
            "as_of": facts["as_of"],
            "attempted_at": datetime.now(UTC),
        }
        reason = ineligibility_reason(facts, config)
        if reason:
            context.log.warning(f"{account}: {spec.name} not fitted: {reason}")
            with duckdb.get_connection() as conn, transaction(conn):
                replace_account_rows(
                    conn, "models.fit_status", account, read_sql("models.fit_status"),
                    {**status, "status": "ineligible", "reason": reason}, scope={"model": spec.name},
                )
            # Materialised all the same, so the account's marts still show its history and
            # why nothing is predicted; the checks fail as warnings (nothing was checked)
            # and do not block the predictions, which are cleared for the account.
            yield dg.MaterializeResult(asset_key=key, metadata={"status": "ineligible", "reason": reason})
            for spec_ in fit_check_specs(key, with_independence):
                yield dg.AssetCheckResult(
                    asset_key=key,
                    check_name=spec_.name,
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"not evaluated: {spec.name} not fitted ({reason})",
                )
            return

        from clv_assets.models.bayes import fit, summarize  # PyMC loads only when fitting

        posterior = fit(spec, rows, config.settings())
        summary = summarize(posterior, spec.parameters)
        checks = diagnostics_results(key, summary, posterior, config.max_r_hat, config.min_ess)
        # before anything is written: a fit whose plots fail leaves the stored fit as it was
        plot_metadata = diagnostic_plots(spec, posterior, rows)
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
            "reason": None if passed else ", ".join(c.check_name for c in checks if not c.passed),
        }
        with duckdb.get_connection() as conn:
            conn.register("fit_summary", summary)
            conn.register("fit_draws", _long_draws(posterior))
            with transaction(conn):
                scope = {"model": spec.name}
                replace_account_rows(conn, "models.fits", account, read_sql("models.fits"), write, scope)
                if passed:  # failed draws never replace the last good ones
                    replace_account_rows(
                        conn, "models.posterior_draws", account, read_sql("models.posterior_draws"), write, scope
                    )
                replace_account_rows(conn, "models.fit_status", account, read_sql("models.fit_status"), write, scope)
            metadata = partition_metadata(conn, "models.fits", account)
        context.log.info(f"{account}: {spec.name} fitted by {posterior.method} in {posterior.seconds:.1f} s")
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                **metadata,
                "method": posterior.method,
                "seconds": round(posterior.seconds, 2),
                "n_customers": posterior.n_customers,
                "n_distinct_rows": posterior.n_rows,
                "diagnostics_passed": passed,
                "summary": dg.MetadataValue.md(summary.round(4).to_markdown(index=False)),
                **plot_metadata,
            }
        )
        yield from checks
        if with_independence:
            yield independence_result(key, facts["frequency_spend_correlation"])

    return _asset


def diagnostic_plots(spec: CLVModelSpec, posterior: Posterior, rows: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Plots of the fit as inline images (Markdown data URIs the UI renders), plus the
    numbers behind the repeat-order plot.

    Every fit: the posterior of each parameter by chain. BG/NBD also: the P(alive) matrix
    (frequency x recency at the oldest customer's age) and the number of customers by
    repeat orders, actual vs expected, which shows whether the model fits the account.
    """
    from clv_assets.models import plots  # matplotlib loads only when a fit runs

    title = f"{spec.name} posterior ({posterior.method}, {posterior.n_customers:,} customers)"
    images = {"posterior_plot": (plots.posterior_png(posterior.draws, spec.parameters, title), title)}
    tables = {}
    if spec is BGNBD:
        age = float(rows["T"].max())
        frequency, recency, matrix = plots.p_alive_matrix(
            posterior.draws, min(int(rows["frequency"].max()), MAX_PLOTTED_FREQUENCY), age
        )
        counts = plots.repeat_order_counts(posterior.draws, rows)
        images["p_alive_matrix"] = (plots.p_alive_png(frequency, recency, matrix, age), "P(alive)")
        images["repeat_orders_plot"] = (plots.repeat_orders_png(counts), "repeat orders, actual vs expected")
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
    return {name: dg.MetadataValue.md(plots.markdown_image(png, alt)) for name, (png, alt) in images.items()} | tables


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


bgnbd_fit = _fit_asset(
    BGNBD,
    "Posterior of the account's purchase process (BG/NBD): how often customers buy (r, alpha) "
    "and how likely they are to lapse after each purchase (a, b). One row per parameter "
    "in models.fits (mean, sd, 90% HDI, r_hat, ESS, run facts); the draws in "
    "models.posterior_draws feed every per-customer prediction.",
)
gamma_gamma_fit = _fit_asset(
    GAMMA_GAMMA,
    "Posterior of the account's spend process (Gamma-Gamma, parameters p, q, v): how much a "
    "customer spends per order and how much that varies between customers, fitted on "
    "repeat buyers. Feeds the expected order value and predicted spend.",
)
