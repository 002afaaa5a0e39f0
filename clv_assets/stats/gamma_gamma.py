"""The Gamma-Gamma model of spend (Fader & Hardie 2013, "The Gamma-Gamma model of
monetary value", https://www.brucehardie.com/notes/025/gamma_gamma.pdf): priors, PyMC
builder and the expected order value, as :data:`GAMMA_GAMMA`.

Priors are not pymc-marketing's defaults: ``Weibull(2, 1)`` on p and q puts almost no
mass above 3 (CDNOW's p is 6.25) and a prior on ``v`` in currency units makes the
estimate depend on the currency. We fit on spend divided by the account's mean repeat
spend, with weakly informative ``HalfNormal(20)`` priors on p, q and the scaled v, and
report v in currency units. Parameter names are pymc-marketing's (``p``, ``q``, ``v``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clv_assets.stats.numerics import as_draws, as_rows, compiled, out_shape
from clv_assets.stats.specs import SpendModel

if TYPE_CHECKING:  # pandas only annotates the builders' rows
    import pandas as pd


def gamma_gamma_expected_spend(p, q, v, x, m) -> np.ndarray:
    r"""Conditional expected average transaction value, Gamma-Gamma model.

    Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", eq. (5):

    .. math::

        E[M \mid p, q, v; x, m_x] = \frac{q - 1}{p x + q - 1}\,\frac{p v}{q - 1}
            + \frac{p x}{p x + q - 1}\, m_x
          = \frac{p\,(v + x\, m_x)}{p x + q - 1},

    a weighted average of the population mean :math:`p v / (q - 1)` and the
    customer's observed mean spend :math:`m_x`.  For ``x = 0`` it is the
    population mean (``m`` is ignored there and may be NaN).  Same as
    ``pymc_marketing.clv.GammaGammaModel.expected_customer_spend``, except that
    where the expectation does not exist (``p x + q - 1 <= 0``, e.g. ``q <= 1``
    for ``x = 0``) NaN is returned instead of a negative/infinite number.

    Parameters
    ----------
    p, q, v : array_like, shape (n_draws,)
        Posterior draws of the Gamma-Gamma parameters (pymc-marketing names).
    x : array_like, shape (n_rows,)
        Number of repeat transactions whose values make up ``m``.
    m : array_like, shape (n_rows,)
        Mean value of those transactions.

    Returns
    -------
    numpy.ndarray, shape (n_draws, n_rows)
    """
    p, q, v = map(as_draws, (p, q, v))
    x, m = map(as_rows, (x, m))
    n_draws, n_rows = out_shape((p, q, v), (x, m))
    out = np.empty((n_draws, n_rows))
    # one compiled pass: numpy's seven full-size passes were a fifth of the prediction step
    _expected_spend_loop(
        *(np.ascontiguousarray(np.broadcast_to(a, (n_draws, 1))[:, 0]) for a in (p, q, v)),
        *(np.ascontiguousarray(np.broadcast_to(a, (1, n_rows))[0]) for a in (x, m)),
        out,
    )
    return out


@compiled
def _expected_spend_loop(p, q, v, x, m, out):
    for d in range(p.size):
        for i in range(x.size):
            xm = x[i] * m[i] if x[i] > 0 else 0.0
            denom = p[d] * x[i] + (q[d] - 1.0)
            out[d, i] = p[d] * (v[d] + xm) / denom if denom > 0 else np.nan


def gamma_gamma_priors() -> dict:
    """``HalfNormal(20)`` on p, q and v / (the account's mean repeat spend)."""
    from pymc_extras.prior import Prior

    return {name: Prior("HalfNormal", sigma=20) for name in GAMMA_GAMMA.pooled_variables}


def gamma_gamma_scale(values: dict) -> float:
    """The spend scale: the account's mean repeat spend (weighted by the counts ``n``), the
    unit of ``v_scaled``."""
    n, spend = values["n"], values["monetary_value"]
    return float(np.average(spend, weights=n)) if n.sum() > 0 else 1.0


def spend_scale(rows: pd.DataFrame) -> float:
    """:func:`gamma_gamma_scale` of distinct rows."""
    return gamma_gamma_scale({c: rows[c].to_numpy(float) for c in ("n", "monetary_value")})


def gamma_gamma_likelihood_data(values: dict) -> dict:
    """The arrays :func:`gamma_gamma_weighted_loglik` reads, from distinct rows' columns and
    counts, spend in units of the account's mean repeat spend (``scale``): counts per
    distinct frequency, each row's x z (z: its scaled mean spend) and the two sums over
    rows that the log-likelihood needs of log z."""
    x, n = values["frequency"], values["n"]
    if ((x <= 0) | (values["monetary_value"] <= 0)).any():
        raise ValueError("Gamma-Gamma: rows must be repeat buyers (frequency > 0) with a positive mean spend")
    scale = gamma_gamma_scale(values)
    log_z = np.log(values["monetary_value"] / scale)
    levels, level = np.unique(x, return_inverse=True)
    return {
        "frequency": x, "n": n, "scale": np.asarray(scale),
        "x_level": levels, "n_level": np.bincount(level, weights=n, minlength=len(levels)),
        "xz": x * values["monetary_value"] / scale,
        "n_x_log_z": np.asarray(float(np.dot(n, x * log_z))), "n_log_z": np.asarray(float(np.dot(n, log_z))),
    }


def gamma_gamma_model(rows: pd.DataFrame, priors: dict | None = None):
    """Gamma-Gamma on distinct (frequency, monetary_value) rows of repeat buyers, weighted
    by ``n``; ``priors`` override the defaults by name.

    The likelihood of a customer's mean repeat spend with the individual spend rate
    integrated out (Fader, Hardie & Lee 2005, "RFM and CLV", eq. 1a), as in
    pymc-marketing's ``GammaGammaModel`` (:func:`gamma_gamma_weighted_loglik`).
    """
    import pymc as pm

    from clv_assets.stats.fitting import data_variables, prior_variables

    priors = {**gamma_gamma_priors(), **(priors or {})}
    with pm.Model() as model:
        data = data_variables(GAMMA_GAMMA.data(rows))
        v = prior_variables(priors, GAMMA_GAMMA.pooled_variables)
        pm.Deterministic("v", v["v_scaled"] * data["scale"])
        pm.Potential("likelihood", gamma_gamma_weighted_loglik(data, v["p"], v["q"], v["v_scaled"]))
    return model


def gamma_gamma_weighted_loglik(data: dict, p, q, v):
    """sum over rows of count x log-density of the scaled mean repeat spend z of a customer
    with x repeat purchases (a pytensor expression; ``data``: the ``pm.Data`` of
    :func:`gamma_gamma_likelihood_data`). Per row::

        ll = log G(p x + q) - log G(p x) - log G(q) + q log v + (p x - 1) log z
             + p x log x - (p x + q) log(x z + v)

    The gamma-function and ``log x`` terms are evaluated once per distinct frequency, the
    ``log z`` terms are sums fixed by the data, so only ``log(x z + v)`` is per row. The
    Jacobian of the spend scaling is a constant, so it is left out.
    """
    import pytensor.tensor as pt

    x_level, n_level = data["x_level"], data["n_level"]
    per_frequency = pt.dot(n_level, pt.gammaln(p * x_level + q) - pt.gammaln(p * x_level) + p * x_level * pt.log(x_level))
    per_customer = pt.sum(n_level) * (q * pt.log(v) - pt.gammaln(q))
    spend = p * data["n_x_log_z"] - data["n_log_z"]
    per_row = pt.dot(data["n"], (p * data["frequency"] + q) * pt.log(data["xz"] + v))
    return per_frequency + per_customer + spend - per_row


GAMMA_GAMMA = SpendModel(
    name="gamma_gamma",
    label="Gamma-Gamma",
    columns=("frequency", "monetary_value"),
    parameters=("p", "q", "v"),
    priors=gamma_gamma_priors,
    build=gamma_gamma_model,
    # v is sampled as v_scaled, v over the account's mean repeat spend (currency-free)
    pooled_variables={"p": "log", "q": "log", "v_scaled": "log"},
    reference="GammaGammaModel",
    typical_parameters={"p": 6.3, "q": 3.8, "v": 16.0},
    training_rows="gamma_gamma_training_rows",
    likelihood_data=gamma_gamma_likelihood_data,
    expected_spend=gamma_gamma_expected_spend,
)
