"""Fitting any model of the registry on distinct rows: NUTS, Laplace or MAP.

Every likelihood depends on a customer only through a few columns (a purchase model
through (frequency, recency, T), Gamma-Gamma through (frequency, monetary_value)).
Summing each distinct row's log-likelihood times its count gives exactly the
customer-level log-likelihood (:func:`weighted_potential`), so the posterior is the same
at a cost that grows with distinct histories, not customers.

Priors are pymc-marketing's defaults (Gamma-Gamma excepted, see its module), with every
time scale stated per week (the unit of pymc-marketing's examples and of the BTYD
literature) and restated per day, our storage unit (:func:`in_days`): a prior on the
scale of weeks applied to days would pull ``alpha`` down sevenfold (on CDNOW it biases
BG/NBD's alpha by about -10%). Parameter names are pymc-marketing's, so posteriors plug
straight into its methods.

This module imports PyMC: the step processes preload it (``defs/jobs.py``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from clv_assets.models.laplace import laplace_draws
from clv_assets.models.specs import CLVModel, FitSettings, Posterior

PRIOR_TIME_UNIT_DAYS = 7.0
# nutpie's low-rank mass matrix follows the strong p-v correlation of Gamma-Gamma
# (ESS ~2000 instead of ~300 per 2000 draws on CDNOW) and costs nothing on BG/NBD.
NUTPIE_KWARGS = {"adaptation": "low_rank"}


def in_days(weekly: Prior) -> Prior:
    """A Weibull prior on a time scale stated per week, restated per day."""
    return Prior(weekly.distribution, alpha=weekly.parameters["alpha"], beta=weekly.parameters["beta"] * PRIOR_TIME_UNIT_DAYS)


def weighted_potential(rows: pd.DataFrame, dist) -> None:
    """sum over distinct (frequency, recency, T) rows of count x log-likelihood, as the
    model's likelihood."""
    observed = np.column_stack([rows["recency"].to_numpy(float), rows["frequency"].to_numpy(float)])
    pm.Potential("likelihood", pt.dot(rows["n"].to_numpy(float), pm.logp(dist, observed)))


def fit(model: CLVModel, rows: pd.DataFrame, settings: FitSettings, priors: dict | None = None) -> Posterior:
    """Fit ``model`` on distinct ``rows`` (its columns plus the count ``n``); ``priors``
    (``{variable: Prior}``) override the model's default priors by name."""
    missing = [c for c in (*model.columns, "n") if c not in rows]
    if missing:
        raise ValueError(f"{model.name}: rows lack column(s) {missing}")
    method = settings.resolve(len(rows), model)
    pm_model = model.build(rows, priors) if priors else model.build(rows)
    keep = [*model.parameters, *model.latent]
    started = time.perf_counter()
    divergences = 0
    with pm_model:
        if method == "mcmc":
            idata = pm.sample(
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                cores=min(settings.chains, 2),
                random_seed=settings.random_seed,
                nuts_sampler="nutpie",
                progressbar=False,
                compute_convergence_checks=False,
                nuts=NUTPIE_KWARGS,
            )
            posterior = idata.posterior
            divergences = int(idata.sample_stats["diverging"].sum())
        elif method == "laplace":
            posterior = laplace_draws(pm_model, keep, settings.draws * settings.chains, settings.random_seed)
        elif method == "map":
            point = pm.find_MAP(progressbar=False, seed=settings.random_seed)
            posterior = {name: np.asarray(point[name]).reshape(1, 1) for name in keep}
        else:
            raise ValueError(f"unknown fit method {method!r}")
    draws = {name: np.asarray(posterior[name], dtype=float) for name in keep}
    if method == "laplace":  # one long chain of independent draws -> chains for diagnostics
        draws = {k: v.reshape(settings.chains, -1) for k, v in draws.items()}
    return Posterior(
        model=model.name,
        method=method,
        draws=draws,
        divergences=divergences,
        seconds=time.perf_counter() - started,
        n_rows=len(rows),
        n_customers=int(rows["n"].sum()),
    )


def summarize(posterior: Posterior, parameters: tuple[str, ...]) -> pd.DataFrame:
    """mean, sd, 90% HDI bounds, r_hat and bulk ESS per parameter."""
    import arviz as az

    records = []
    for name in parameters:
        values = posterior.draws[name]
        sampled = values.size > 1
        low, high = az.hdi(values.reshape(-1), prob=0.9) if sampled else (values.item(), values.item())
        records.append(
            {
                "parameter": name,
                "mean": float(values.mean()),
                "sd": float(values.std(ddof=1)) if sampled else float("nan"),
                "hdi_5": float(low),
                "hdi_95": float(high),
                "r_hat": float(az.rhat(values)) if values.shape[0] > 1 and sampled else float("nan"),
                "ess_bulk": float(az.ess(values, method="bulk")) if sampled else float("nan"),
            }
        )
    return pd.DataFrame.from_records(records)
