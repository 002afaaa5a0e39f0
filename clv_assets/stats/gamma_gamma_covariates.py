"""Gamma-Gamma whose scale depends on covariates: customer i's spend rate nu_i ~ Gamma(q,
v_i) with ``v_i = v * exp(z_i' spend_coefficient)``, so exp(coefficient) multiplies the
customer's expected order value p v_i / (q - 1) (pymc-marketing 1.3 has no covariates in
Gamma-Gamma; this follows :mod:`~clv_assets.stats.gamma_gamma` with a per-row v). The
covariates are the purchase models' (:data:`~clv_assets.stats.purchase.bgnbd_covariates.COVARIATES`).

Not registered in ``MODELS``: its rows carry covariate columns the spend fit and the
predictions do not read yet (issue 28).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clv_assets.stats.gamma_gamma import gamma_gamma_expected_spend, gamma_gamma_scale
from clv_assets.stats.purchase.bgnbd_covariates import COVARIATES
from clv_assets.stats.specs import CLVModel

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("frequency", "monetary_value", *COVARIATES)


def priors() -> dict:
    """Gamma-Gamma's ``HalfNormal(20)`` on p, q and v / (mean repeat spend); ``Normal(0, 1)``
    on each spend coefficient (as pymc-marketing's covariate coefficients)."""
    from pymc_extras.prior import Prior

    return {
        "p": Prior("HalfNormal", sigma=20), "q": Prior("HalfNormal", sigma=20), "v_scaled": Prior("HalfNormal", sigma=20),
        "spend_coefficient": Prior("Normal", mu=0, sigma=1, dims="spend_covariate"),
    }


def likelihood_data(values: dict) -> dict:
    """Counts, frequencies, the mean spend in units of the account's mean repeat spend
    (``z``), its scale and the covariate matrix ``Z``."""
    x = values["frequency"]
    if ((x <= 0) | (values["monetary_value"] <= 0)).any():
        raise ValueError("Gamma-Gamma: rows must be repeat buyers (frequency > 0) with a positive mean spend")
    scale = gamma_gamma_scale(values)
    return {
        "frequency": x, "n": values["n"], "z": values["monetary_value"] / scale, "scale": np.asarray(scale),
        "Z": np.column_stack([values[c] for c in COVARIATES]),
    }


def weighted_loglik(data: dict, p, q, v):
    """sum over rows of count x log-density of the scaled mean repeat spend z with a per-row
    ``v`` (:func:`~clv_assets.stats.gamma_gamma.gamma_gamma_weighted_loglik` per row)::

        ll = log G(p x + q) - log G(p x) - log G(q) + q log v + (p x - 1) log z + p x log x - (p x + q) log(x z + v)
    """
    import pytensor.tensor as pt

    x, z = data["frequency"], data["z"]
    ll = (
        pt.gammaln(p * x + q) - pt.gammaln(p * x) - pt.gammaln(q) + q * pt.log(v) + (p * x - 1.0) * pt.log(z)
        + p * x * pt.log(x) - (p * x + q) * pt.log(x * z + v)
    )
    return pt.dot(data["n"], ll)


def build(rows: pd.DataFrame, priors_: dict | None = None):
    import pymc as pm
    import pytensor.tensor as pt

    from clv_assets.stats.fitting import data_variables

    p_ = {**priors(), **(priors_ or {})}
    with pm.Model(coords={"spend_covariate": list(COVARIATES)}) as model:
        data = data_variables(GAMMA_GAMMA_COVARIATES.data(rows))
        v = {name: p_[name].create_variable(name) for name in ("p", "q", "v_scaled", "spend_coefficient")}
        pm.Deterministic("v", v["v_scaled"] * data["scale"])
        v_row = v["v_scaled"] * pt.exp(pt.dot(data["Z"], v["spend_coefficient"]))
        pm.Potential("likelihood", weighted_loglik(data, v["p"], v["q"], v_row))
    return model


@dataclass(frozen=True, kw_only=True)
class CovariateSpendModel(CLVModel):
    covariates: tuple[str, ...]

    def expected_spend(self, draws: dict, rows: pd.DataFrame) -> np.ndarray:
        """E[order value | x, m, covariates] per draw and row: Gamma-Gamma's at v_i."""
        flat = {k: np.asarray(draws[k], float) for k in ("p", "q", "v", "spend_coefficient")}
        coefficient = flat["spend_coefficient"].reshape(-1, len(self.covariates))
        p, q, v = (flat[k].reshape(-1) for k in ("p", "q", "v"))
        Z = rows[list(self.covariates)].to_numpy(float)
        levels, inverse = np.unique(Z, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        out = np.empty((len(p), len(rows)))
        for k, zk in enumerate(levels):
            mask = inverse == k
            out[:, mask] = gamma_gamma_expected_spend(
                p, q, v * np.exp(coefficient @ zk), rows["frequency"].to_numpy(float)[mask], rows["monetary_value"].to_numpy(float)[mask]
            )
        return out


GAMMA_GAMMA_COVARIATES = CovariateSpendModel(
    name="gamma_gamma_covariates",
    label="Gamma-Gamma with covariates",
    columns=COLUMNS,
    parameters=("p", "q", "v", "spend_coefficient"),
    priors=priors,
    build=build,
    pooled_variables={"p": "log", "q": "log", "v_scaled": "log", "spend_coefficient": "none"},
    reference="GammaGammaModel",
    typical_parameters={"p": 6.3, "q": 3.8, "v": 16.0, "spend_coefficient": 0.0},
    likelihood_data=likelihood_data,
    covariates=COVARIATES,
)
