"""BG/NBD and Gamma-Gamma posteriors fitted on distinct customer histories.

The BG/NBD likelihood depends on a customer only through (frequency, recency, T), and the
Gamma-Gamma likelihood only through (frequency, monetary_value). Summing each distinct
row's log-likelihood times its count gives exactly the customer-level log-likelihood, so
the posterior is the same at a cost that grows with distinct histories, not customers.

The BG/NBD likelihood is pymc-marketing's ``BetaGeoNBD`` distribution and its priors are
``BetaGeoModel``'s defaults, with the prior on the rate scale ``alpha`` stated per week (the
unit of pymc-marketing's examples and of the BTYD literature) and converted to days, our
storage unit: a prior on the scale of weeks applied to days would pull ``alpha`` down
sevenfold (on CDNOW it biases alpha by about -10%).

Gamma-Gamma priors are not pymc-marketing's defaults: ``Weibull(2, 1)`` on p and q puts
almost no mass above 3 (CDNOW's p is 6.25) and a prior on ``v`` in currency units makes
the estimate depend on the currency. We fit on spend divided by the account's mean repeat
spend, with weakly informative ``HalfNormal(20)`` priors on p, q and the scaled v, and
report v in currency units. Parameter names are pymc-marketing's, so posteriors plug
straight into its methods.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior
from pymc_marketing.clv import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel
from pymc_marketing.clv.distributions import BetaGeoNBD, ModifiedBetaGeoNBD, ParetoNBD

from clv_assets.models.specs import BGNBD, GAMMA_GAMMA, MBGNBD, PARETO_NBD, CLVModelSpec, FitSettings, Posterior

PRIOR_TIME_UNIT_DAYS = 7.0
SPEND_PRIOR = Prior("HalfNormal", sigma=20)
# nutpie's low-rank mass matrix follows the strong p-v correlation of Gamma-Gamma
# (ESS ~2000 instead of ~300 per 2000 draws on CDNOW) and costs nothing on BG/NBD.
NUTPIE_KWARGS = {"adaptation": "low_rank"}


def _in_days(weekly: Prior) -> Prior:
    """A Weibull prior on a time scale stated per week, restated per day."""
    return Prior(weekly.distribution, alpha=weekly.parameters["alpha"], beta=weekly.parameters["beta"] * PRIOR_TIME_UNIT_DAYS)


def _weighted_potential(rows: pd.DataFrame, dist) -> None:
    """sum over distinct rows of count x log-likelihood, as the model's likelihood."""
    observed = np.column_stack([rows["recency"].to_numpy(float), rows["frequency"].to_numpy(float)])
    pm.Potential("likelihood", pt.dot(rows["n"].to_numpy(float), pm.logp(dist, observed)))


def _beta_geo_model(rows: pd.DataFrame, distribution, defaults) -> pm.Model:
    config = defaults().default_model_config
    with pm.Model() as model:
        alpha = _in_days(config["alpha"]).create_variable("alpha")
        r = config["r"].create_variable("r")
        phi = config["phi_dropout"].create_variable("phi_dropout")
        kappa = config["kappa_dropout"].create_variable("kappa_dropout")
        a = pm.Deterministic("a", phi * kappa)
        b = pm.Deterministic("b", (1.0 - phi) * kappa)
        _weighted_potential(rows, distribution.dist(a=a, b=b, r=r, alpha=alpha, T=rows["T"].to_numpy(float)))
    return model


def bgnbd_model(rows: pd.DataFrame) -> pm.Model:
    """BG/NBD on distinct (frequency, recency, T) rows weighted by their count ``n``."""
    return _beta_geo_model(rows, BetaGeoNBD, BetaGeoModel)


def mbgnbd_model(rows: pd.DataFrame) -> pm.Model:
    """MBG/NBD (pymc-marketing's ``ModifiedBetaGeoNBD`` and ``ModifiedBetaGeoModel`` priors), weighted."""
    return _beta_geo_model(rows, ModifiedBetaGeoNBD, ModifiedBetaGeoModel)


def pareto_nbd_model(rows: pd.DataFrame) -> pm.Model:
    """Pareto/NBD (pymc-marketing's ``ParetoNBD`` and ``ParetoNBDModel`` priors), weighted.

    Both ``alpha`` (purchase) and ``beta`` (dropout) are time scales: their weekly
    ``Weibull(2, 10)`` priors are restated per day.
    """
    config = ParetoNBDModel().default_model_config
    with pm.Model() as model:
        r = config["r"].create_variable("r")
        alpha = _in_days(config["alpha"]).create_variable("alpha")
        s = config["s"].create_variable("s")
        beta = _in_days(config["beta"]).create_variable("beta")
        _weighted_potential(rows, ParetoNBD.dist(r=r, alpha=alpha, s=s, beta=beta, T=rows["T"].to_numpy(float)))
    return model


def gamma_gamma_model(rows: pd.DataFrame) -> pm.Model:
    """Gamma-Gamma on distinct (frequency, monetary_value) rows of repeat buyers, weighted by ``n``.

    The likelihood of a customer's mean repeat spend with the individual spend rate
    integrated out (Fader, Hardie & Lee 2005, "RFM and CLV", eq. 1a), as in
    pymc-marketing's ``GammaGammaModel``.
    """
    n = rows["n"].to_numpy(float)
    scale = float(np.average(rows["monetary_value"], weights=n)) if len(rows) else 1.0
    x = pt.as_tensor_variable(rows["frequency"].to_numpy(float))
    z = pt.as_tensor_variable(rows["monetary_value"].to_numpy(float) / scale)
    with pm.Model() as model:
        p = SPEND_PRIOR.create_variable("p")
        q = SPEND_PRIOR.create_variable("q")
        v_scaled = SPEND_PRIOR.create_variable("v_scaled")
        pm.Deterministic("v", v_scaled * scale)
        loglik = gamma_gamma_loglik(p, q, v_scaled, x, z)
        pm.Potential("likelihood", pt.dot(n, loglik))
    return model


def gamma_gamma_loglik(p, q, v, x, z):
    """Log-density of mean repeat spend z of a customer with x repeat purchases.

    Jacobian of the spend scaling is a constant, so it is left out.
    """
    return (
        pt.gammaln(p * x + q)
        - pt.gammaln(p * x)
        - pt.gammaln(q)
        + q * pt.log(v)
        + (p * x - 1) * pt.log(z)
        + (p * x) * pt.log(x)
        - (p * x + q) * pt.log(x * z + v)
    )


MODEL_BUILDERS = {
    BGNBD.name: bgnbd_model,
    GAMMA_GAMMA.name: gamma_gamma_model,
    MBGNBD.name: mbgnbd_model,
    PARETO_NBD.name: pareto_nbd_model,
}


def fit(spec: CLVModelSpec, rows: pd.DataFrame, settings: FitSettings) -> Posterior:
    """Fit ``spec`` on distinct ``rows`` (its columns plus the count ``n``)."""
    missing = [c for c in (*spec.columns, "n") if c not in rows]
    if missing:
        raise ValueError(f"{spec.name}: rows lack column(s) {missing}")
    method = settings.resolve(len(rows), spec)
    model = MODEL_BUILDERS[spec.name](rows)
    keep = [*spec.parameters, *spec.latent]
    started = time.perf_counter()
    divergences = 0
    with model:
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
            from pymc_extras.inference import fit_laplace

            idata = fit_laplace(
                model=model,
                draws=settings.draws * settings.chains,
                random_seed=settings.random_seed,
                progressbar=False,
            )
            posterior = idata.posterior
        elif method == "map":
            point = pm.find_MAP(progressbar=False, seed=settings.random_seed)
            posterior = {name: np.asarray(point[name]).reshape(1, 1) for name in keep}
        else:
            raise ValueError(f"unknown fit method {method!r}")
    draws = {name: np.asarray(posterior[name], dtype=float) for name in keep}
    if method == "laplace":  # one long chain of independent draws -> chains for diagnostics
        draws = {k: v.reshape(settings.chains, -1) for k, v in draws.items()}
    return Posterior(
        model=spec.name,
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
