"""Diagnostics of the Bayesian fits, evaluated by the fit assets on the fresh posterior (or,
when a run reuses a stored fit, on its stored summary in ``models.fits``).

A failed blocking check keeps the fit's draws out of ``models.posterior_draws`` and stops
the account's downstream predictions, so the last good predictions stay published.
"""

import math

import dagster as dg
import pandas as pd


CONVERGED = "converged"
ENOUGH_EFFECTIVE_DRAWS = "enough_effective_draws"
NO_DIVERGENCES = "no_divergences"
FREQUENCY_SPEND_INDEPENDENT = "frequency_spend_independent"
SAMPLED_METHODS = {"mcmc", "laplace"}


def fit_check_specs(asset_key: dg.AssetKey, with_independence: bool) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(CONVERGED, asset=asset_key, blocking=True, description="r_hat <= max_r_hat (default 1.01) for every parameter."),
        dg.AssetCheckSpec(ENOUGH_EFFECTIVE_DRAWS, asset=asset_key, blocking=True, description="bulk ESS >= min_ess (default 400) for every parameter."),
        dg.AssetCheckSpec(NO_DIVERGENCES, asset=asset_key, blocking=True, description="No divergent NUTS transitions."),
    ]
    if with_independence:
        specs.append(
            dg.AssetCheckSpec(
                FREQUENCY_SPEND_INDEPENDENT,
                asset=asset_key,
                description=(
                    "Warns when |corr(frequency, monetary_value)| among repeat buyers exceeds "
                    "0.3: the Gamma-Gamma model assumes spend is independent of frequency."
                ),
            )
        )
    return specs


def diagnostics_results(
    asset_key: dg.AssetKey,
    summary: pd.DataFrame,
    method: str,
    divergences: int,
    max_r_hat: float,
    min_ess: float,
    note: str | None = None,
) -> list[dg.AssetCheckResult]:
    """The three blocking diagnostics of a fit by ``method`` with this ``summary`` (one row per
    parameter with r_hat and ess_bulk) and ``divergences``; a MAP fit has no draws to judge,
    so they pass. ``note`` goes into each result's metadata (say, that the fit was reused)."""
    sampled = method in SAMPLED_METHODS
    by_parameter = summary.set_index("parameter")
    r_hat = by_parameter["r_hat"].to_dict()
    ess = by_parameter["ess_bulk"].to_dict()
    notes = ([] if sampled else [f"not applicable to method {method!r}"]) + ([note] if note else [])
    note = {"note": "; ".join(notes)} if notes else {}
    return [
        dg.AssetCheckResult(
            check_name=CONVERGED,
            asset_key=asset_key,
            passed=not sampled or all(v <= max_r_hat for v in r_hat.values()),
            metadata={"r_hat": _json(r_hat), "max_r_hat": max_r_hat, **note},
        ),
        dg.AssetCheckResult(
            check_name=ENOUGH_EFFECTIVE_DRAWS,
            asset_key=asset_key,
            passed=not sampled or all(v >= min_ess for v in ess.values()),
            metadata={"ess_bulk": _json(ess), "min_ess": min_ess, **note},
        ),
        dg.AssetCheckResult(
            check_name=NO_DIVERGENCES,
            asset_key=asset_key,
            passed=divergences == 0,
            metadata={"divergences": divergences, **note},
        ),
    ]


def independence_result(asset_key: dg.AssetKey, correlation: float | None, limit: float = 0.3) -> dg.AssetCheckResult:
    value = None if correlation is None or math.isnan(correlation) else float(correlation)
    return dg.AssetCheckResult(
        check_name=FREQUENCY_SPEND_INDEPENDENT,
        asset_key=asset_key,
        passed=value is None or abs(value) <= limit,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"correlation": value if value is not None else "n/a", "limit": limit},
    )


def _json(values: dict) -> dg.MetadataValue:
    return dg.MetadataValue.json({k: (None if math.isnan(v) else round(float(v), 4)) for k, v in values.items()})
