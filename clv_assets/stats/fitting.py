"""Fitting any model of the registry on distinct rows: NUTS, Laplace or MAP.

Every likelihood depends on a customer only through a few columns (a purchase model
through (frequency, recency, T), Gamma-Gamma through (frequency, monetary_value)).
Summing each distinct row's log-likelihood times its count gives exactly the
customer-level log-likelihood (:func:`weighted_logp`), so the posterior is the same
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

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pymc_extras.prior import Prior

from clv_assets.stats.laplace import LaplaceFunctions
from clv_assets.stats.specs import CLVModel, FitSettings, Posterior

PRIOR_TIME_UNIT_DAYS = 7.0
# nutpie's low-rank mass matrix follows the strong p-v correlation of Gamma-Gamma
# (ESS ~2000 instead of ~300 per 2000 draws on CDNOW) and costs nothing on BG/NBD.
NUTPIE_KWARGS = {"adaptation": "low_rank"}
# Below this many distinct rows the posterior is shaped mostly by the prior and NUTS
# diverges now and then at nutpie's default target acceptance (0.8): 4 of 6 simulated
# 40-customer accounts with a pooled prior had 1-3 divergences in 2,000 draws, 1 of 6
# at 0.95. Smaller steps cost nothing at that size (a fit takes a fraction of a second).
SMALL_FIT_ROWS = 1_000
SMALL_FIT_TARGET_ACCEPT = 0.95


def in_days(weekly: Prior) -> Prior:
    """A Weibull prior on a time scale stated per week, restated per day."""
    return Prior(weekly.distribution, alpha=weekly.parameters["alpha"], beta=weekly.parameters["beta"] * PRIOR_TIME_UNIT_DAYS)


def data_variables(values: dict[str, np.ndarray]) -> dict:
    """A ``pm.Data`` per array of ``values`` (a model's :meth:`~CLVModel.data`), inside the
    model being built: the compiled model reads them, so another account's rows only swap
    their values (lengths may differ)."""
    return {name: pm.Data(name, value) for name, value in values.items()}


def prior_variables(priors: dict, names) -> dict:
    """A random variable per name of ``names`` (a model's ``pooled_variables``) from its
    ``Prior`` in ``priors``, created in that order (the order of the sampler's vector)."""
    return {name: priors[name].create_variable(name) for name in names}


def weighted_logp(data: dict, dist):
    """sum over distinct (frequency, recency, T) rows of count x ``dist``'s log-likelihood
    (``data``: the model's :func:`data_variables`)."""
    observed = pt.stack([data["recency"], data["frequency"]], axis=-1)
    return pt.dot(data["n"], pm.logp(dist, observed))


@dataclass
class _Compiled:
    """One model compiled for one method, reused by every fit of the process."""

    pm_model: pm.Model
    sampler: object = None  # nutpie's compiled model (mcmc)
    laplace: LaplaceFunctions | None = None  # laplace and map
    lock: threading.Lock = field(default_factory=threading.Lock)


_COMPILED: dict[tuple, _Compiled] = {}
_COMPILING = threading.Lock()


def _prior_key(model: CLVModel, priors: dict | None) -> str:
    effective = {**model.priors(), **(priors or {})}
    return repr(sorted((name, prior.to_dict()) for name, prior in effective.items()))


def compiled(model: CLVModel, method: str, rows: pd.DataFrame, priors: dict | None = None) -> _Compiled:
    """The per-process compiled ``model`` for ``method``, keyed by (model, method, priors);
    built on ``rows`` the first time. ``priors`` override the model's defaults by name
    (a pooled prior compiles a model of its own)."""
    key = (model.name, method, _prior_key(model, priors))
    with _COMPILING:  # accounts run side by side build each model once
        return _COMPILED.get(key) or _compile(key, model, method, rows, priors)


def _compile(key: tuple, model: CLVModel, method: str, rows: pd.DataFrame, priors: dict | None) -> _Compiled:
    pm_model = model.build(rows, priors) if priors else model.build(rows)
    entry = _Compiled(pm_model)
    if method == "mcmc":
        from clv_assets.stats.nutpie_cache import compile_pymc_model

        entry.sampler = compile_pymc_model(pm_model)
    else:
        keep = [*model.parameters, *model.latent]
        entry.laplace = LaplaceFunctions(pm_model, keep, jacobian=method == "laplace")
    _COMPILED[key] = entry
    return entry


def fit(model: CLVModel, rows: pd.DataFrame, settings: FitSettings, priors: dict | None = None) -> Posterior:
    """Fit ``model`` on distinct ``rows`` (its columns plus the count ``n``); ``priors``
    (``{variable: Prior}``) override the model's default priors by name."""
    missing = [c for c in (*model.columns, "n") if c not in rows]
    if missing:
        raise ValueError(f"{model.name}: rows lack column(s) {missing}")
    method = settings.resolve(len(rows), model)
    if method not in ("mcmc", "laplace", "map"):
        raise ValueError(f"unknown fit method {method!r}")
    keep = [*model.parameters, *model.latent]
    started = time.perf_counter()
    entry = compiled(model, method, rows, priors)
    data = model.data(rows)
    divergences = 0
    if method == "mcmc":
        import nutpie
        from pymc.util import _get_seeds_per_chain

        idata = nutpie.sample(
            entry.sampler.with_data(**data),
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=min(settings.chains, 2),
            seed=int(_get_seeds_per_chain(settings.random_seed, settings.chains)[0]),  # as pm.sample seeds nutpie
            progress_bar=False,
            **NUTPIE_KWARGS,
            **({"target_accept": SMALL_FIT_TARGET_ACCEPT} if len(rows) < SMALL_FIT_ROWS else {}),
        )
        draws = {name: np.asarray(idata.posterior[name], dtype=float) for name in keep}
        divergences = int(idata.sample_stats["diverging"].sum())
    else:
        with entry.lock:  # the compiled functions read the model's shared data
            pm.set_data(data, model=entry.pm_model)
            if method == "laplace":
                flat = entry.laplace.draws(settings.draws * settings.chains, settings.random_seed)
                # one long chain of independent draws -> chains for diagnostics
                draws = {k: v.reshape(settings.chains, -1, *v.shape[1:]) for k, v in flat.items()}
            else:
                point = entry.laplace.values(entry.laplace.mode()[None, :])
                draws = {k: v.reshape(1, 1, *v.shape[1:]) for k, v in point.items()}
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
