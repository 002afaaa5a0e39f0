"""The BG/NBD model (Fader, Hardie & Lee 2005): its closed forms (P(alive), the conditional
expectation and PMF) and likelihood, as :data:`BGNBD`. What it shares with MBG/NBD (the
future of a customer alive at T, the priors and PyMC builder) is in
:mod:`~clv_assets.stats.purchase.bgnbd_family`.

The quantities are pure numpy/scipy (PyMC is imported only when a model is built),
take model parameters as 1-D arrays of posterior draws and customer histories
as 1-D arrays of rows, and return an array of shape ``(n_draws, n_rows)``.
Memory use of one call is a small constant multiple of ``n_draws * n_rows``;
callers process large customer tables in row chunks
(:mod:`clv_assets.stats.predict`).

Conventions
-----------
* Time is measured in days (any unit works as long as ``alpha``, ``t_x``,
  ``T``, ``t`` and ``horizon`` share it).
* ``x`` (frequency) is the number of *repeat* purchases in ``(0, T]``, ``t_x``
  (recency) the time of the last purchase and ``T`` the customer's age, all
  measured from the customer's first purchase, exactly as in
  ``pymc_marketing.clv.BetaGeoModel`` (``frequency``, ``recency``, ``T``).
* BG/NBD parameters: ``lambda ~ Gamma(shape=r, rate=alpha)`` and dropout
  probability ``p ~ Beta(a, b)``; after every *repeat* purchase the customer
  drops out with probability ``p``.

The key identity used for the conditional (per-customer) quantities follows
from Bayes' rule on the individual-level BG/NBD likelihood (Fader, Hardie &
Lee 2005, eq. 3)::

    L(lambda, p | x, t_x, T) = (1-p)^x lambda^x e^{-lambda T}                 (alive at T)
                             + 1{x>0} p (1-p)^{x-1} lambda^x e^{-lambda t_x}  (died after t_x)

The "alive at T" term, multiplied by the Gamma(r, alpha) x Beta(a, b) prior, is
proportional to ``Gamma(r + x, alpha + T) x Beta(a, b + x)``.  Hence, given
the history, the customer is alive at T with probability ``P(alive)``; if
alive, the purchases in ``(T, T + t]`` follow a *fresh* BG/NBD process
(exponential waiting times are memoryless, and the dropout coin of the last
purchase has already come up "stay") with the updated parameters
``r' = r + x, alpha' = alpha + T, a' = a, b' = b + x``; if dead, there are no
further purchases.  Therefore::

    P(X(T, T+t) = n | x, t_x, T) = P(alive) * P_BGNBD(X(t) = n | r', alpha', a, b')
                                   + (1 - P(alive)) * 1{n = 0}

    E[X(T, T+t) | x, t_x, T]     = P(alive) * E_BGNBD[X(t) | r', alpha', a, b']

which reproduce eq. (10) of Fader, Hardie & Lee (2005) and the conditional PMF
of Fader & Hardie (2019), section 5.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your
       customers the easy way: An alternative to the Pareto/NBD model."
       Marketing Science 24(2), 275-284 (eq. 8: PMF of X(t); eq. 9: E[X(t)];
       eq. 10: conditional expectation).
       http://brucehardie.com/papers/018/fader_et_al_mksc_05.pdf
.. [2] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). "Computing P(alive)
       using the BG/NBD model." http://www.brucehardie.com/notes/021/palive_for_BGNBD.pdf
.. [3] Fader, P. S. & Hardie, B. G. S. (2013). "Overcoming the BG/NBD model's
       #NUM! error problem." http://brucehardie.com/notes/027/bgnbd_num_error.pdf
.. [4] Fader, P. S. & Hardie, B. G. S. (2019). "A step-by-step derivation of
       the BG/NBD model" (section 5: conditional PMF, P(X(T, T+t) = x* | x, t_x, T)).
       https://www.brucehardie.com/notes/039/bgnbd_derivation__2019-11-06.pdf
       (The companion note "Deriving the conditional PMF of the Pareto/NBD
       model", http://brucehardie.com/notes/028/, uses the same argument.)

Notes on pymc-marketing (1.3.0) conventions
-------------------------------------------
* ``bgnbd_p_alive`` and ``bgnbd_expected_purchases`` reproduce
  ``BetaGeoModel.expected_probability_alive`` and ``BetaGeoModel.expected_purchases``.
* ``BetaGeoModel.expected_probability_no_purchase`` omits the ``1{x > 0}``
  indicator on the "died after t_x" term of the likelihood.  For customers
  with ``x > 0`` it agrees with :func:`bgnbd_prob_n_purchases` (``n=0``); for
  ``x = 0`` it is wrong (it lets a customer with no repeat purchase have
  already died, contrary to the model, and is undefined for ``b <= 1``),
  whereas here ``P(X = 0 | x = 0) = ((alpha + T) / (alpha + T + t))^r``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from clv_assets.stats.numerics import (
    as_draws,
    as_rows,
    compiled,
    full,
    out_shape,
    shaped_if_alive,
    time_to_next_purchase_quantile,
)
from clv_assets.stats.purchase import bgnbd_family as family
from clv_assets.stats.specs import PurchaseModel

if TYPE_CHECKING:  # pandas only annotates the builders' rows
    import pandas as pd


def _log_odds_dead(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """log[P(died after t_x) / P(alive at T)] for x > 0 (meaningless for x = 0)."""
    #   log[a / (b + x - 1)] + (r + x) log[(alpha + T) / (alpha + t_x)]
    xs = np.maximum(x, 1.0)  # callers mask the x = 0 branch
    return (
        np.log(a)
        - np.log(b + xs - 1.0)
        + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    )


def _log_p_alive(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    """log P(alive at T | x, t_x, T) on already-broadcastable arrays."""
    # log expit(-z) = -log(1 + e^z) = -logaddexp(0, z)
    log_div = _log_odds_dead(r, alpha, a, b, x, t_x, T)
    return np.where(x > 0, -np.logaddexp(0.0, log_div), 0.0)


def bgnbd_p_alive(r, alpha, a, b, x, t_x, T) -> np.ndarray:
    r"""Probability that a customer is still alive at ``T`` given the history.

    .. math::

        P(\text{alive} \mid x, t_x, T) = \left[1 + 1_{x>0}\,\frac{a}{b + x - 1}
            \left(\frac{\alpha + T}{\alpha + t_x}\right)^{r + x}\right]^{-1}

    (Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model";
    Fader, Hardie & Lee 2005, eq. 3).  Evaluated as ``expit(-log_odds)`` in
    log-space, so large ``x`` or ``T >> t_x`` neither overflow nor yield NaN.
    Customers with ``x = 0`` are alive with probability 1 (in the BG/NBD model
    dropout can only happen right after a repeat purchase).

    Identical to ``pymc_marketing.clv.BetaGeoModel.expected_probability_alive``.

    Parameters
    ----------
    r, alpha, a, b : array_like, shape (n_draws,)
        Posterior draws of the BG/NBD parameters (``alpha`` in days).
    x, t_x, T : array_like, shape (n_rows,)
        Frequency (number of repeat purchases), recency and age (days) of each
        customer history, with ``0 <= t_x <= T`` and ``t_x = 0`` when ``x = 0``.

    Returns
    -------
    numpy.ndarray, shape (n_draws, n_rows)
    """
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T = map(as_rows, (x, t_x, T))
    # _log_odds_dead's operations, in its order, with the terms of the draw and x alone
    # computed once per distinct x (the rows of a prediction chunk share one or two): of
    # its full-size passes only log1p((T - t_x) / (alpha + t_x)) is left, written in
    # place, then the log odds and expit(-log odds) in place too
    out = np.empty(out_shape((r, alpha, a, b), (x, t_x, T)))
    np.add(alpha, t_x, out=out)
    np.divide(T - t_x, out, out=out)
    np.log1p(out, out=out)
    frequencies, of_row = np.unique(x, return_inverse=True)
    frequencies = frequencies[None, :]
    per_draw = np.log(a) - np.log(b + np.maximum(frequencies, 1.0) - 1.0), r + frequencies
    _minus_log_odds(*(np.broadcast_to(v, (out.shape[0], frequencies.size)) for v in per_draw), of_row.reshape(-1), out)
    expit(out, out=out)
    np.copyto(out, 1.0, where=~(x > 0))
    return out


@compiled
def _minus_log_odds(offset, rate, of_row, out):
    """``out = -(offset[:, of_row] + rate[:, of_row] * out)``: minus _log_odds_dead from
    its per-draw-and-frequency terms and its log1p factor (``out``), without gathered copies."""
    for d in range(out.shape[0]):
        for i in range(out.shape[1]):
            k = of_row[i]
            out[d, i] = -(offset[d, k] + rate[d, k] * out[d, i])


def bgnbd_expected_purchases(r, alpha, a, b, x, t_x, T, t) -> np.ndarray:
    r"""Expected number of purchases in ``(T, T + t]`` given the history.

    Fader, Hardie & Lee (2005), eq. (10):

    .. math::

        E[X(T, T+t) \mid x, t_x, T] = P(\text{alive}) \cdot
            \frac{a + b + x - 1}{a - 1}\left[1 - \left(\frac{\alpha + T}{\alpha + T + t}\right)^{r + x}
            {}_2F_1\!\left(r + x, b + x; a + b + x - 1; \frac{t}{\alpha + T + t}\right)\right]

    For numerical stability the hypergeometric term is evaluated after Euler's
    transformation :math:`{}_2F_1(A, B; C; z) = (1 - z)^{C - A - B}\,{}_2F_1(C - A, C - B; C; z)`,
    i.e. as :math:`(1 - z)^{a - 1}\,{}_2F_1(a + b - 1 - r, a - 1; a + b + x - 1; z)`,
    which stays O(1) for large ``x`` (the original form multiplies an
    underflowing power by an overflowing ``2F1``), and ``P(alive)`` is
    evaluated in log-space (see :func:`bgnbd_p_alive`).

    Matches ``pymc_marketing.clv.BetaGeoModel.expected_purchases(future_t=t)``.
    The closed form has a removable singularity at ``a = 1``; draws with
    ``|a - 1| < 1e-5`` are evaluated by linear interpolation between
    ``a = 1 -/+ 1e-5`` (relative error ~1e-9 instead of 0/0 cancellation).

    Parameters
    ----------
    r, alpha, a, b : array_like, shape (n_draws,)
        Posterior draws of the BG/NBD parameters.
    x, t_x, T : array_like, shape (n_rows,)
        Customer histories (frequency, recency, age in days).
    t : float or array_like, shape (n_rows,)
        Prediction horizon in days (``t >= 0``).

    Returns
    -------
    numpy.ndarray, shape (n_draws, n_rows)
    """
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T, t = map(as_rows, (x, t_x, T, t))
    e_alive = family.expected_if_alive(r, alpha, a, b, x, T, t)
    out = np.exp(_log_p_alive(r, alpha, a, b, x, t_x, T)) * e_alive
    return full(out, out_shape((r, alpha, a, b), (x, t_x, T, t)))


def bgnbd_prob_at_least_one_purchase(r, alpha, a, b, x, t_x, T, t) -> np.ndarray:
    r"""Probability of at least one purchase in ``(T, T + t]`` given the history.

    .. math::

        P(X(T, T+t) \ge 1 \mid x, t_x, T) = P(\text{alive})
            \left[1 - \left(\frac{\alpha + T}{\alpha + T + t}\right)^{r + x}\right]

    (the complement of the ``n = 0`` conditional PMF, see
    :func:`bgnbd_prob_n_purchases`), computed with ``expm1``/``log1p`` so it
    is accurate even for tiny ``t``.

    Parameters
    ----------
    r, alpha, a, b : array_like, shape (n_draws,)
    x, t_x, T : array_like, shape (n_rows,)
    t : float or array_like, shape (n_rows,)

    Returns
    -------
    numpy.ndarray, shape (n_draws, n_rows)
    """
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T, t = map(as_rows, (x, t_x, T, t))
    p_any_if_alive = -np.expm1(-(r + x) * np.log1p(t / (alpha + T)))
    out = np.exp(_log_p_alive(r, alpha, a, b, x, t_x, T)) * p_any_if_alive
    return full(out, out_shape((r, alpha, a, b), (x, t_x, T, t)))


def bgnbd_prob_n_purchases(r, alpha, a, b, x, t_x, T, t, n) -> np.ndarray:
    r"""Conditional PMF ``P(X(T, T + t) = n | x, t_x, T)`` of the BG/NBD model.

    With the updated parameters :math:`r' = r + x`, :math:`\alpha' = \alpha + T`,
    :math:`b' = b + x` (the posterior of :math:`\lambda, p` on the "alive at T"
    branch is :math:`\mathrm{Gamma}(r', \alpha') \times \mathrm{Beta}(a, b')`,
    see the module docstring) and :math:`\pi = \alpha' / (\alpha' + t)`:

    .. math::

        P(X(T,T+t) = n \mid x, t_x, T) = 1_{n=0}\,(1 - P(\text{alive}))
          + P(\text{alive}) \Big[ \frac{B(a, b' + n)}{B(a, b')}
              \frac{\Gamma(r' + n)}{\Gamma(r')\, n!}\, \pi^{r'} (1 - \pi)^{n}
          + 1_{n>0} \frac{B(a + 1, b' + n - 1)}{B(a, b')}
              \Big(1 - \pi^{r'} \sum_{j=0}^{n-1} \frac{\Gamma(r' + j)}{\Gamma(r')\, j!} (1 - \pi)^j\Big) \Big]

    The bracket is eq. (8) of Fader, Hardie & Lee (2005) (the PMF of a new
    customer's ``X(t)``) evaluated at the updated parameters; the result is
    the conditional PMF of Fader & Hardie (2019), section 5.  For ``n = 0``
    it simplifies to

    .. math::

        P(X(T, T+t) = 0 \mid x, t_x, T) = 1 - P(\text{alive})
            \left[1 - \left(\frac{\alpha + T}{\alpha + T + t}\right)^{r + x}\right].

    The negative-binomial tail sum is evaluated as the regularised incomplete
    beta function :math:`I_{1-\pi}(n, r')`, all other factors in log-space
    (``gammaln``, ``betaln``), so large ``x`` and ``n`` are safe.

    **Convention difference with pymc-marketing 1.3.0:** for ``x > 0``,
    ``n = 0`` equals ``BetaGeoModel.expected_probability_no_purchase(t)``.
    For ``x = 0`` pymc-marketing keeps the "died after the last repeat
    purchase" term although a customer without repeat purchases cannot have
    died in the BG/NBD model, so its value is too large (and undefined for
    ``b <= 1``); this function returns the model-consistent
    ``((alpha + T) / (alpha + T + t))^r``, confirmed by simulation in the tests.

    Parameters
    ----------
    r, alpha, a, b : array_like, shape (n_draws,)
        Posterior draws of the BG/NBD parameters.
    x, t_x, T : array_like, shape (n_rows,)
        Customer histories (frequency, recency, age in days).
    t : float or array_like, shape (n_rows,)
        Prediction horizon in days (``t >= 0``).
    n : int or array_like of int, shape (n_rows,)
        Number of future purchases (``n >= 0``).

    Returns
    -------
    numpy.ndarray, shape (n_draws, n_rows)

    See Also
    --------
    bgnbd_prob_at_least_one_purchase : ``1 - P(X = 0)`` without cancellation.
    """
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T, t, n = map(as_rows, (x, t_x, T, t, n))
    if np.any(n < 0) or np.any(n != np.floor(n)):
        raise ValueError("n must be a non-negative integer")

    p_alive = np.exp(_log_p_alive(r, alpha, a, b, x, t_x, T))
    out = family.mix_with_dead(p_alive, r + x, alpha + T, a, b + x, t, n)
    return full(out, out_shape((r, alpha, a, b), (x, t_x, T, t, n)))


def bgnbd_prob_n_range(r, alpha, a, b, x, t_x, T, t, n_start: int, n_stop: int) -> np.ndarray:
    """:func:`bgnbd_prob_n_purchases` for each n in [n_start, n_stop), shape (n, draws,
    rows), sharing the work between the n
    (:func:`~clv_assets.stats.purchase.bgnbd_family.mix_with_dead_range`)."""
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, t_x, T, t = map(as_rows, (x, t_x, T, t))
    p_alive = np.exp(_log_p_alive(r, alpha, a, b, x, t_x, T))
    shape = out_shape((r, alpha, a, b), (x, t_x, T, t))
    return np.stack([np.broadcast_to(p, shape) for p in family.mix_with_dead_range(p_alive, r + x, alpha + T, a, b + x, t, n_start, n_stop)])


def bgnbd_time_to_next_purchase_quantile(
    r,
    alpha,
    a,
    b,
    x,
    t_x,
    T,
    q: float = 0.5,
    horizon: float = 365.0,
    *,
    tol: float = 1e-3,
) -> np.ndarray:
    r"""Time until the posterior-mean probability of a next purchase reaches ``q``.

    For each customer returns the smallest :math:`t^* \in (0, \text{horizon}]`
    such that

    .. math::

        \bar P(t) = \frac{1}{S} \sum_{s=1}^{S} P(X(T, T+t) \ge 1 \mid x, t_x, T, \theta_s) \ge q,

    where the average runs over the posterior draws :math:`\theta_s` and
    :math:`P(X(T, T+t) \ge 1 \mid \cdot) = P(\text{alive})[1 - ((\alpha+T)/(\alpha+T+t))^{r+x}]`
    (see :func:`bgnbd_prob_at_least_one_purchase`).  :math:`\bar P(t)` is
    continuous and increasing from 0 and tends to the posterior-mean
    P(alive) as :math:`t \to \infty`; if :math:`\bar P(\text{horizon}) < q`
    the result is NaN (including customers whose probability of ever buying
    again is below ``q``).  Solved by vectorised bisection to within ``tol``
    days; the returned value is the upper end of the final bracket, so
    :math:`\bar P(t^*) \ge q` and :math:`\bar P(t^* - \text{tol}) < q`.

    Memory: a few arrays of shape ``(n_draws, n_rows)``; chunk rows upstream.

    Parameters
    ----------
    r, alpha, a, b : array_like, shape (n_draws,)
        Posterior draws of the BG/NBD parameters.
    x, t_x, T : array_like, shape (n_rows,)
        Customer histories (frequency, recency, age in days).
    q : float, default 0.5
        Target probability, ``0 < q < 1``.
    horizon : float or array_like, shape (n_rows,), default 365.0
        Search interval upper bound in days (> 0).
    tol : float, default 1e-3
        Absolute tolerance of the bisection, in days.

    Returns
    -------
    numpy.ndarray, shape (n_rows,)
        Time in days, or NaN where the target is not reached within ``horizon``.
    """
    p_alive = bgnbd_p_alive(r, alpha, a, b, x, t_x, T)
    return time_to_next_purchase_quantile(p_alive, family.nbd_p_none_if_alive(r, alpha, x, T), q, horizon, tol=tol)


# --------------------------------------------------------------------------- #
# likelihood, priors and PyMC model
# --------------------------------------------------------------------------- #
def bgnbd_weighted_loglik(data: dict, r, alpha, a, b):
    """sum over rows of count x BG/NBD log-likelihood (a pytensor expression; ``data``: the
    ``pm.Data`` of :func:`~clv_assets.stats.purchase.bgnbd_family.beta_geo_likelihood_data`), equal to the weighted sum of
    pymc-marketing's ``BetaGeoNBD`` logp (``test_model_likelihood.py``). Per row::

        ll = log B(a, b + x) - log B(a, b) + log G(r + x) - log G(r) + r log alpha
             + logaddexp(-(r + x) log(alpha + T),                           (alive at T)
                         log a - log(b + x - 1) - (r + x) log(alpha + t_x))  (died after t_x, x > 0)

    One-time buyers (x = 0) cannot have died: their last term is -r log(alpha + T).
    """
    return family.beta_geo_weighted_loglik(data, r, alpha, a, b, modified=False)


def bgnbd_priors() -> dict:
    """``BetaGeoModel``'s default priors, ``alpha`` per day."""
    return family.beta_geo_priors(BGNBD)


def bgnbd_model(rows: pd.DataFrame, priors: dict | None = None):
    """BG/NBD (the likelihood of pymc-marketing's ``BetaGeoNBD``, see
    :func:`bgnbd_weighted_loglik`) on distinct (frequency, recency, T) rows weighted by
    their count ``n``; ``priors`` override the defaults by name."""
    return family.beta_geo_model(rows, bgnbd_weighted_loglik, {**bgnbd_priors(), **(priors or {})}, BGNBD)


BGNBD = PurchaseModel(
    name="bgnbd",
    label="BG/NBD",
    columns=("frequency", "recency", "T"),
    parameters=("r", "alpha", "a", "b"),
    latent=("phi_dropout", "kappa_dropout"),
    priors=bgnbd_priors,
    build=bgnbd_model,
    pooled_variables=family.POOLED_VARIABLES,
    reference="BetaGeoModel",
    typical_parameters={"r": 0.245, "alpha": 31.5, "a": 0.78, "b": 2.41},
    likelihood_data=family.beta_geo_likelihood_data,
    p_alive=bgnbd_p_alive,
    expected_purchases=bgnbd_expected_purchases,
    prob_n_purchases=bgnbd_prob_n_purchases,
    prob_n_range=bgnbd_prob_n_range,
    future_if_alive=family.future_if_alive,
    expected_if_alive=shaped_if_alive(family.expected_if_alive),
    p_none_if_alive=lambda r, alpha, a, b, x, T: family.nbd_p_none_if_alive(r, alpha, x, T),
)
