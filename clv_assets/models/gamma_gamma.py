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

from clv_assets.models.numerics import as_draws, as_rows, out_shape
from clv_assets.models.specs import SpendModel

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
    xm = np.where(x > 0, x * np.where(x > 0, m, 0.0), 0.0)
    denom = p * x + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom > 0, p * (v + xm) / denom, np.nan)
    return np.broadcast_to(out, out_shape((p, q, v), (x, m))).copy()


def gamma_gamma_priors() -> dict:
    """``HalfNormal(20)`` on p, q and v / (the account's mean repeat spend)."""
    from pymc_extras.prior import Prior

    return {name: Prior("HalfNormal", sigma=20) for name in ("p", "q", "v_scaled")}


def gamma_gamma_scale(values: dict) -> dict:
    """The spend scale: the account's mean repeat spend (weighted by the counts ``n``)."""
    n, spend = values["n"], values["monetary_value"]
    return {"scale": np.asarray(float(np.average(spend, weights=n)) if n.sum() > 0 else 1.0)}


def gamma_gamma_model(rows: pd.DataFrame):
    """Gamma-Gamma on distinct (frequency, monetary_value) rows of repeat buyers, weighted by ``n``.

    The likelihood of a customer's mean repeat spend with the individual spend rate
    integrated out (Fader, Hardie & Lee 2005, "RFM and CLV", eq. 1a), as in
    pymc-marketing's ``GammaGammaModel``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from clv_assets.models.fitting import data_variables

    priors = gamma_gamma_priors()
    with pm.Model() as model:
        data = data_variables(GAMMA_GAMMA.data(rows))
        p = priors["p"].create_variable("p")
        q = priors["q"].create_variable("q")
        v_scaled = priors["v_scaled"].create_variable("v_scaled")
        pm.Deterministic("v", v_scaled * data["scale"])
        loglik = gamma_gamma_loglik(p, q, v_scaled, data["frequency"], data["monetary_value"] / data["scale"])
        pm.Potential("likelihood", pt.dot(data["n"], loglik))
    return model


def gamma_gamma_loglik(p, q, v, x, z):
    """Log-density (a pytensor expression) of mean repeat spend z of a customer with x
    repeat purchases.

    Jacobian of the spend scaling is a constant, so it is left out.
    """
    import pytensor.tensor as pt

    return (
        pt.gammaln(p * x + q)
        - pt.gammaln(p * x)
        - pt.gammaln(q)
        + q * pt.log(v)
        + (p * x - 1) * pt.log(z)
        + (p * x) * pt.log(x)
        - (p * x + q) * pt.log(x * z + v)
    )


GAMMA_GAMMA = SpendModel(
    name="gamma_gamma",
    label="Gamma-Gamma",
    columns=("frequency", "monetary_value"),
    parameters=("p", "q", "v"),
    priors=gamma_gamma_priors,
    build=gamma_gamma_model,
    training_rows="gamma_gamma_training_rows",
    extra_data=gamma_gamma_scale,
    expected_spend=gamma_gamma_expected_spend,
)
