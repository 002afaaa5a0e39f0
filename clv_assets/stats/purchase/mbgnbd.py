"""The MBG/NBD model (Batislam, Denizel & Filiztekin 2007): priors, PyMC builder and
posterior quantities, as :data:`MBGNBD`.

As BG/NBD, but the dropout coin is also tossed right after the first purchase, so a
customer without repeat purchases may have lapsed. Individual likelihood::

    (1-p)^(x+1) lambda^x e^{-lambda T}  (alive at T)  +  p (1-p)^x lambda^x e^{-lambda t_x}  (died after t_x)

The alive branch is proportional to Gamma(r + x, alpha + T) x Beta(a, b + x + 1), and a
customer alive at T continues as a fresh BG/NBD process with those parameters: every
"if alive" quantity of the family (:mod:`clv_assets.stats.purchase.bgnbd_family`) applies
with b + 1 in place of b. Shapes and units as in :mod:`clv_assets.stats.purchase.bgnbd`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clv_assets.stats.numerics import as_draws, as_rows, full, out_shape, shaped_if_alive
from clv_assets.stats.purchase import bgnbd_family as family
from clv_assets.stats.specs import PurchaseModel

if TYPE_CHECKING:  # pandas only annotates the builders' rows
    import pandas as pd


def _log_p_alive_mbg(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    log_odds_dead = np.log(a) - np.log(b + x) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    return -np.logaddexp(0.0, log_odds_dead)


def mbgnbd_p_alive(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    r"""P(alive at T | x, t_x, T) of the MBG/NBD model.

    .. math::

        P(\text{alive}) = \left[1 + \frac{a}{b + x}
            \left(\frac{\alpha + T}{\alpha + t_x}\right)^{r + x}\right]^{-1}

    (Batislam et al. 2007, eq. 5); below 1 also for ``x = 0``. Same as
    ``pymc_marketing.clv.ModifiedBetaGeoModel.expected_probability_alive``.
    Shapes as in :func:`bgnbd_p_alive`.
    """
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T = map(as_rows, (x, t_x, T))
    out = np.exp(_log_p_alive_mbg(r, alpha, a, b, x, t_x, T))
    return full(out, out_shape((r, alpha, a, b), (x, t_x, T)))


def mbgnbd_expected_purchases(r, alpha, a, b, x, t_x, T, t) -> np.ndarray:
    """Expected purchases in ``(T, T + t]`` given the history, MBG/NBD (Batislam et al. 2007, eq. 6).

    ``P(alive)`` times the BG/NBD expectation of a customer alive at T with ``b + 1``.
    With ``x = t_x = T = 0`` it is the expectation for a new customer (eq. 4). Same as
    ``ModifiedBetaGeoModel.expected_purchases`` / ``expected_purchases_new_customer``.
    """
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T, t = map(as_rows, (x, t_x, T, t))
    out = np.exp(_log_p_alive_mbg(r, alpha, a, b, x, t_x, T)) * _expected_if_alive(r, alpha, a, b, x, T, t)
    return full(out, out_shape((r, alpha, a, b), (x, t_x, T, t)))


def mbgnbd_prob_n_purchases(r, alpha, a, b, x, t_x, T, t, n) -> np.ndarray:
    """Conditional PMF ``P(X(T, T + t) = n | x, t_x, T)`` of the MBG/NBD model.

    ``(1 - P(alive)) 1{n=0} + P(alive) P_BGNBD(X(t) = n | r + x, alpha + T, a, b + x + 1)``:
    the argument of :func:`bgnbd_prob_n_purchases` with the MBG/NBD posterior of the
    alive branch (see the module docstring). pymc-marketing 1.3.0 has no MBG/NBD PMF
    (``expected_probability_no_purchase`` raises); the tests check this one by simulation.
    """
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T, t, n = map(as_rows, (x, t_x, T, t, n))
    if np.any(n < 0) or np.any(n != np.floor(n)):
        raise ValueError("n must be a non-negative integer")
    p_alive = np.exp(_log_p_alive_mbg(r, alpha, a, b, x, t_x, T))
    out = family.mix_with_dead(p_alive, r + x, alpha + T, a, b + x + 1.0, t, n)
    return full(out, out_shape((r, alpha, a, b), (x, t_x, T, t, n)))


def mbgnbd_prob_n_range(r, alpha, a, b, x, t_x, T, t, n_start: int, n_stop: int) -> np.ndarray:
    """:func:`mbgnbd_prob_n_purchases` for each n in [n_start, n_stop), shape (n, draws, rows)."""
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T, t = map(as_rows, (x, t_x, T, t))
    p_alive = np.exp(_log_p_alive_mbg(r, alpha, a, b, x, t_x, T))
    shape = out_shape((r, alpha, a, b), (x, t_x, T, t))
    pmfs = family.mix_with_dead_range(p_alive, r + x, alpha + T, a, b + x + 1.0, t, n_start, n_stop)
    return np.stack([np.broadcast_to(p, shape) for p in pmfs])


def mbgnbd_future_if_alive(r, alpha, a, b, x, T, t) -> dict[str, np.ndarray]:
    """The family's :func:`~clv_assets.stats.purchase.bgnbd_family.future_if_alive` of an
    MBG/NBD customer: alive at T, the future is a fresh BG/NBD process with ``b + 1`` in
    place of ``b`` (see the module docstring)."""
    return family.future_if_alive(r, alpha, a, np.asarray(b, dtype=float) + 1.0, x, T, t)


def _expected_if_alive(r, alpha, a, b, x, T, t) -> np.ndarray:
    """E[X(T, T + t)] of a customer alive at T: BG/NBD's with ``b + 1``."""
    return family.expected_if_alive(r, alpha, a, b + 1.0, x, T, t)


# --------------------------------------------------------------------------- #
# priors and PyMC model
# --------------------------------------------------------------------------- #
def mbgnbd_priors() -> dict:
    """``ModifiedBetaGeoModel``'s default priors, ``alpha`` per day."""
    return family.beta_geo_priors(MBGNBD)


def mbgnbd_model(rows: pd.DataFrame, priors: dict | None = None):
    """MBG/NBD (the likelihood of pymc-marketing's ``ModifiedBetaGeoNBD``, see
    :func:`mbgnbd_weighted_loglik`, and ``ModifiedBetaGeoModel``'s priors, overridden by
    name by ``priors``) on distinct (frequency, recency, T) rows
    weighted by their count ``n``."""
    return family.beta_geo_model(rows, mbgnbd_weighted_loglik, {**mbgnbd_priors(), **(priors or {})}, MBGNBD)


def mbgnbd_weighted_loglik(data: dict, r, alpha, a, b):
    """sum over rows of count x MBG/NBD log-likelihood, equal to the weighted sum of
    pymc-marketing's ``ModifiedBetaGeoNBD`` logp (``test_model_likelihood.py``)."""
    return family.beta_geo_weighted_loglik(data, r, alpha, a, b, modified=True)


MBGNBD = PurchaseModel(
    name="mbgnbd",
    label="MBG/NBD",
    columns=("frequency", "recency", "T"),
    parameters=("r", "alpha", "a", "b"),
    latent=("phi_dropout", "kappa_dropout"),
    priors=mbgnbd_priors,
    build=mbgnbd_model,
    pooled_variables=family.POOLED_VARIABLES,
    reference="ModifiedBetaGeoModel",
    typical_parameters={"r": 0.572, "alpha": 45.8, "a": 0.874, "b": 1.54},
    likelihood_data=family.beta_geo_likelihood_data,
    p_alive=mbgnbd_p_alive,
    expected_purchases=mbgnbd_expected_purchases,
    prob_n_purchases=mbgnbd_prob_n_purchases,
    prob_n_range=mbgnbd_prob_n_range,
    future_if_alive=mbgnbd_future_if_alive,
    expected_if_alive=shaped_if_alive(_expected_if_alive),
    p_none_if_alive=lambda r, alpha, a, b, x, T: family.nbd_p_none_if_alive(r, alpha, x, T),
)
