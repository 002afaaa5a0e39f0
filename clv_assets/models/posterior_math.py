"""Vectorised BG/NBD and Gamma-Gamma predictive quantities for posterior draws.

Every function in this module is pure numpy/scipy (no pymc / pytensor import),
takes model parameters as 1-D arrays of posterior draws and customer histories
as 1-D arrays of rows, and returns an array of shape ``(n_draws, n_rows)``.
Memory use of one call is a small constant multiple of ``n_draws * n_rows``;
callers process large customer tables in row chunks
(:mod:`clv_assets.models.predict`).

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
* Gamma-Gamma parameters use pymc-marketing's names ``p``, ``q``, ``v``.

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
.. [5] Fader, P. S. & Hardie, B. G. S. (2013). "The Gamma-Gamma model of
       monetary value." https://www.brucehardie.com/notes/025/gamma_gamma.pdf

Notes on pymc-marketing (1.3.0) conventions
-------------------------------------------
* ``bgnbd_p_alive``, ``bgnbd_expected_purchases`` and
  ``gamma_gamma_expected_spend`` reproduce ``BetaGeoModel.expected_probability_alive``,
  ``BetaGeoModel.expected_purchases`` and ``GammaGammaModel.expected_customer_spend``
  (the latter except where the expectation does not exist, see its docstring).
* ``BetaGeoModel.expected_probability_no_purchase`` omits the ``1{x > 0}``
  indicator on the "died after t_x" term of the likelihood.  For customers
  with ``x > 0`` it agrees with :func:`bgnbd_prob_n_purchases` (``n=0``); for
  ``x = 0`` it is wrong (it lets a customer with no repeat purchase have
  already died, contrary to the model, and is undefined for ``b <= 1``),
  whereas here ``P(X = 0 | x = 0) = ((alpha + T) / (alpha + T + t))^r``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, betaln, expit, gammaln, hyp2f1, roots_legendre, xlogy

__all__ = [
    "bgnbd_p_alive",
    "bgnbd_expected_purchases",
    "bgnbd_prob_n_purchases",
    "bgnbd_prob_at_least_one_purchase",
    "bgnbd_time_to_next_purchase_quantile",
    "gamma_gamma_expected_spend",
    "mbgnbd_p_alive",
    "mbgnbd_expected_purchases",
    "mbgnbd_prob_n_purchases",
    "pareto_nbd_p_alive",
    "pareto_nbd_expected_purchases",
    "pareto_nbd_prob_n_purchases",
    "pareto_nbd_future_if_alive",
    "mbgnbd_future_if_alive",
    "time_to_next_purchase_quantile",
    "NoOrderCurve",
    "PURCHASE_MATH",
]


_A_NEAR_ONE = 1e-5  # half-width of the interpolation band around a = 1

# --------------------------------------------------------------------------- #
# broadcasting helpers
# --------------------------------------------------------------------------- #
def _draws(v) -> np.ndarray:
    """Posterior draws (scalar or 1-D) -> column of shape (n_draws, 1)."""
    arr = np.asarray(v, dtype=float)
    if arr.ndim > 1:
        raise ValueError(f"posterior draws must be 0-D or 1-D, got shape {arr.shape}")
    return arr.reshape(-1, 1)


def _rows(v) -> np.ndarray:
    """Customer rows (scalar or 1-D) -> row of shape (1, n_rows)."""
    arr = np.asarray(v, dtype=float)
    if arr.ndim > 1:
        raise ValueError(f"customer rows must be 0-D or 1-D, got shape {arr.shape}")
    return arr.reshape(1, -1)


def _out_shape(draw_arrays, row_arrays) -> tuple[int, int]:
    n_d = np.broadcast_shapes(*(a.shape for a in draw_arrays))[0]
    n_r = np.broadcast_shapes(*(a.shape for a in row_arrays))[1]
    return n_d, n_r


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


# --------------------------------------------------------------------------- #
# BG/NBD
# --------------------------------------------------------------------------- #
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
    r, alpha, a, b = map(_draws, (r, alpha, a, b))
    x, t_x, T = map(_rows, (x, t_x, T))
    log_div = _log_odds_dead(r, alpha, a, b, x, t_x, T)
    out = np.where(x > 0, expit(-log_div), 1.0)
    return np.broadcast_to(out, _out_shape((r, alpha, a, b), (x, t_x, T))).copy()


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
    r, alpha, a, b = map(_draws, (r, alpha, a, b))
    x, t_x, T, t = map(_rows, (x, t_x, T, t))
    e_alive = _expected_if_alive(r, alpha, a, b, x, T, t)
    out = np.exp(_log_p_alive(r, alpha, a, b, x, t_x, T)) * e_alive
    return np.broadcast_to(out, _out_shape((r, alpha, a, b), (x, t_x, T, t))).copy()


def _expected_if_alive(r, alpha, a, b, x, T, t) -> np.ndarray:
    """E[X(T, T+t)] of a customer alive at T: the bracket of eq. (10), see above."""
    z = t / (alpha + T + t)

    def e_if_alive(a_):
        c = a_ + b + x - 1.0
        tail = np.exp((a_ - 1.0) * np.log1p(-z)) * hyp2f1(a_ + b - 1.0 - r, a_ - 1.0, c, z)
        return c / (a_ - 1.0) * (1.0 - tail)

    near_one = np.abs(a - 1.0) < _A_NEAR_ONE
    if np.any(near_one):
        # removable singularity at a = 1: interpolate linearly between a = 1 -/+ h
        # (the expectation is smooth in a; error O(h^2), no 0/0 cancellation)
        h = _A_NEAR_ONE
        safe_a = np.where(near_one, 1.0 + 2.0 * h, a)
        w = (a - (1.0 - h)) / (2.0 * h)
        interp = (1.0 - w) * e_if_alive(np.full_like(a, 1.0 - h)) + w * e_if_alive(
            np.full_like(a, 1.0 + h)
        )
        e_alive = np.where(near_one, interp, e_if_alive(safe_a))
    else:
        e_alive = e_if_alive(a)
    return np.where(t > 0, e_alive, 0.0)


def bgnbd_future_if_alive(r, alpha, a, b, x, T, t) -> dict[str, np.ndarray]:
    r"""Future purchases in ``(T, T + t]`` of a customer who is alive at ``T``.

    These depend on the history only through ``(x, T)`` (not ``t_x``), so callers
    evaluate them once per distinct ``(x, T)`` and multiply by the per-customer
    P(alive): ``E = P(alive) * expected``, ``P(X=0) = 1 - P(alive) (1 - p_none)``,
    ``P(X=1) = P(alive) * p_one``. With :math:`\pi = (\alpha+T)/(\alpha+T+t)`,
    :math:`r' = r + x`, :math:`b' = b + x` (eq. 8 of Fader, Hardie & Lee 2005 at
    the updated parameters):

    * ``expected``: the bracket of :func:`bgnbd_expected_purchases`;
    * ``p_none`` = :math:`\pi^{r'}`;
    * ``p_one`` = :math:`\frac{b'}{a+b'} r' \pi^{r'} (1-\pi) + \frac{a}{a+b'} (1 - \pi^{r'})`.

    Returns
    -------
    dict of str to numpy.ndarray, each of shape (n_draws, n_rows)
    """
    r, alpha, a, b = map(_draws, (r, alpha, a, b))
    x, T, t = map(_rows, (x, T, t))
    shape = _out_shape((r, alpha, a, b), (x, T, t))
    r1, b1 = r + x, b + x
    log_pi = -np.log1p(t / (alpha + T))
    p_none = np.exp(r1 * log_pi)
    one_minus_pi = t / (alpha + T + t)
    p_one = b1 / (a + b1) * r1 * p_none * one_minus_pi + a / (a + b1) * -np.expm1(r1 * log_pi)
    expected = _expected_if_alive(r, alpha, a, b, x, T, t)
    return {k: np.broadcast_to(v, shape) for k, v in (("expected", expected), ("p_none", p_none), ("p_one", p_one))}


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
    r, alpha, a, b = map(_draws, (r, alpha, a, b))
    x, t_x, T, t = map(_rows, (x, t_x, T, t))
    p_any_if_alive = -np.expm1(-(r + x) * np.log1p(t / (alpha + T)))
    out = np.exp(_log_p_alive(r, alpha, a, b, x, t_x, T)) * p_any_if_alive
    return np.broadcast_to(out, _out_shape((r, alpha, a, b), (x, t_x, T, t))).copy()


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
    r, alpha, a, b = map(_draws, (r, alpha, a, b))
    x, t_x, T, t, n = map(_rows, (x, t_x, T, t, n))
    if np.any(n < 0) or np.any(n != np.floor(n)):
        raise ValueError("n must be a non-negative integer")

    p_alive = np.exp(_log_p_alive(r, alpha, a, b, x, t_x, T))
    out = _mix_with_dead(p_alive, r + x, alpha + T, a, b + x, t, n)
    return np.broadcast_to(out, _out_shape((r, alpha, a, b), (x, t_x, T, t, n))).copy()


def _mix_with_dead(p_alive, r1, alpha1, a, b1, t, n) -> np.ndarray:
    """P(X = n) of a customer alive with ``p_alive`` whose future, if alive, is a fresh
    BG/NBD process with parameters (r1, alpha1, a, b1); dead customers never buy.

    Shared by BG/NBD (b1 = b + x) and MBG/NBD (b1 = b + x + 1).
    """
    log_pi = -np.log1p(t / alpha1)  # log(alpha' / (alpha' + t))
    one_minus_pi = t / (alpha1 + t)

    log_lb = betaln(a, b1)
    # "still alive after the n-th future purchase (or no purchase at all)" term
    log_term1 = (
        betaln(a, b1 + n)
        - log_lb
        + gammaln(r1 + n)
        - gammaln(r1)
        - gammaln(n + 1.0)
        + r1 * log_pi
        + xlogy(n, one_minus_pi)
    )
    term = np.exp(log_term1)
    # "died right after the n-th future purchase" term (n > 0 only)
    ns = np.maximum(n, 1.0)
    term2 = np.exp(betaln(a + 1.0, b1 + ns - 1.0) - log_lb) * betainc(
        ns, r1, one_minus_pi
    )
    term = term + np.where(n > 0, term2, 0.0)

    # n = 0: use the exact, cancellation-free form 1 - P(alive) (1 - pi^r')
    p0 = 1.0 + p_alive * np.expm1(r1 * log_pi)
    return np.where(n == 0, p0, p_alive * term)


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
    return time_to_next_purchase_quantile(p_alive, _nbd_p_none_if_alive(r, alpha, x, T), q, horizon, tol=tol)


def time_to_next_purchase_quantile(
    p_alive: np.ndarray, p_none_if_alive: NoOrderCurve, q: float = 0.5, horizon: float = 365.0, *, tol: float = 1e-3
) -> np.ndarray:
    r"""Smallest :math:`t^* \in (0, \text{horizon}]` at which the posterior-mean
    probability of a next purchase, mean over draws of
    ``p_alive * (1 - p_none_if_alive(t))``, reaches ``q``; NaN where it does not.

    ``p_alive`` has shape (n_draws, n_rows); ``p_none_if_alive`` is the model's
    :class:`NoOrderCurve` for the same rows (see :data:`PURCHASE_MATH`). The probability
    is continuous and increasing in t, so the root is found by vectorised bisection to
    within ``tol`` days; the upper end of the final bracket is returned. The curve is
    carried along the lower end of the bracket, so each step only adds the piece from
    there to the midpoint.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if tol <= 0:
        raise ValueError("tol must be positive")
    p_alive = np.atleast_2d(np.asarray(p_alive, dtype=float))
    n_r = p_alive.shape[1]
    hz = np.broadcast_to(np.asarray(horizon, dtype=float), (n_r,)).astype(float)
    if np.any(~(hz > 0)):
        raise ValueError("horizon must be positive")
    curve = p_none_if_alive

    def mean_prob(t_row: np.ndarray, carry) -> np.ndarray:
        return (p_alive * (1.0 - curve.value(t_row[None, :], carry))).mean(axis=0)

    reachable = mean_prob(hz, curve.advance(0.0, 0.0, hz[None, :])) >= q
    lo = np.zeros(n_r)
    hi = hz.copy()
    carry_lo = 0.0
    n_iter = int(np.ceil(np.log2(max(float(hz.max(initial=0.0)), tol) / tol))) + 1
    for _ in range(max(n_iter, 1)):
        mid = 0.5 * (lo + hi)
        carry_mid = curve.advance(carry_lo, lo[None, :], mid[None, :])
        ok = mean_prob(mid, carry_mid) >= q
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
        carry_lo = np.where(ok[None, :], carry_lo, carry_mid)
        if np.all(hi - lo <= tol):
            break
    return np.where(reachable, hi, np.nan)


# --------------------------------------------------------------------------- #
# MBG/NBD (Batislam, Denizel & Filiztekin 2007)
# --------------------------------------------------------------------------- #
# As BG/NBD, but the dropout coin is also tossed right after the first purchase, so a
# customer without repeat purchases may have lapsed. Individual likelihood:
#   (1-p)^(x+1) lambda^x e^{-lambda T}  (alive at T)  +  p (1-p)^x lambda^x e^{-lambda t_x}  (died after t_x)
# The alive branch is proportional to Gamma(r + x, alpha + T) x Beta(a, b + x + 1), and a
# customer alive at T continues as a fresh BG/NBD process with those parameters: every
# BG/NBD "if alive" quantity applies with b + 1 in place of b.
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
    r, alpha, a, b = map(_draws, (r, alpha, a, b))
    x, t_x, T = map(_rows, (x, t_x, T))
    out = np.exp(_log_p_alive_mbg(r, alpha, a, b, x, t_x, T))
    return np.broadcast_to(out, _out_shape((r, alpha, a, b), (x, t_x, T))).copy()


def mbgnbd_expected_purchases(r, alpha, a, b, x, t_x, T, t) -> np.ndarray:
    """Expected purchases in ``(T, T + t]`` given the history, MBG/NBD (Batislam et al. 2007, eq. 6).

    ``P(alive)`` times the BG/NBD expectation of a customer alive at T with ``b + 1``.
    With ``x = t_x = T = 0`` it is the expectation for a new customer (eq. 4). Same as
    ``ModifiedBetaGeoModel.expected_purchases`` / ``expected_purchases_new_customer``.
    """
    r, alpha, a, b = map(_draws, (r, alpha, a, b))
    x, t_x, T, t = map(_rows, (x, t_x, T, t))
    out = np.exp(_log_p_alive_mbg(r, alpha, a, b, x, t_x, T)) * _expected_if_alive(r, alpha, a, b + 1.0, x, T, t)
    return np.broadcast_to(out, _out_shape((r, alpha, a, b), (x, t_x, T, t))).copy()


def mbgnbd_prob_n_purchases(r, alpha, a, b, x, t_x, T, t, n) -> np.ndarray:
    """Conditional PMF ``P(X(T, T + t) = n | x, t_x, T)`` of the MBG/NBD model.

    ``(1 - P(alive)) 1{n=0} + P(alive) P_BGNBD(X(t) = n | r + x, alpha + T, a, b + x + 1)``:
    the argument of :func:`bgnbd_prob_n_purchases` with the MBG/NBD posterior of the
    alive branch (see the comment above). pymc-marketing 1.3.0 has no MBG/NBD PMF
    (``expected_probability_no_purchase`` raises); the tests check this one by simulation.
    """
    r, alpha, a, b = map(_draws, (r, alpha, a, b))
    x, t_x, T, t, n = map(_rows, (x, t_x, T, t, n))
    if np.any(n < 0) or np.any(n != np.floor(n)):
        raise ValueError("n must be a non-negative integer")
    p_alive = np.exp(_log_p_alive_mbg(r, alpha, a, b, x, t_x, T))
    out = _mix_with_dead(p_alive, r + x, alpha + T, a, b + x + 1.0, t, n)
    return np.broadcast_to(out, _out_shape((r, alpha, a, b), (x, t_x, T, t, n))).copy()


# --------------------------------------------------------------------------- #
# Pareto/NBD (Schmittlein, Morrison & Colombo 1987)
# --------------------------------------------------------------------------- #
# lambda ~ Gamma(r, alpha) purchase rate, mu ~ Gamma(s, beta) dropout rate (exponential
# lifetime). The alive-at-T branch of the likelihood is proportional to
# Gamma(r + x, alpha + T) x Gamma(s, beta + T), so given alive, the future is a fresh
# Pareto/NBD process with r' = r + x, alpha' = alpha + T, s, beta' = beta + T.
_GL_PANELS, _GL_NODES = 8, 16
_GL_X, _GL_W = roots_legendre(_GL_NODES)


def pareto_nbd_loglik(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """Log-likelihood of (x, t_x, T), pymc-marketing's ``ParetoNBD.logp`` in numpy.

    Fader & Hardie (2005), "A note on deriving the Pareto/NBD model", eq. (22) in the form
    with two positive hypergeometric terms (no cancellation).
    """
    r, alpha, s, beta = map(_draws, (r, alpha, s, beta))
    x, t_x, T = map(_rows, (x, t_x, T))
    rsx, rx = r + s + x, r + x
    cond = alpha >= beta
    larger = np.where(cond, alpha, beta)
    diff = np.abs(alpha - beta)
    second_t1 = np.where(cond, s + 1.0, rx)
    second_t2 = np.where(cond, s, rx + 1.0)
    refactored = rsx * np.log(larger + t_x)
    h1 = np.log(hyp2f1(rsx, second_t1, rsx + 1.0, diff / (larger + t_x)))
    h2 = np.log(hyp2f1(rsx, second_t2, rsx + 1.0, diff / (larger + T))) - rsx * np.log(larger + T) + refactored
    a1 = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) - refactored
    a2 = np.log(s) - np.log(rsx) + h1
    a3 = np.log(rx) - np.log(rsx) + h2
    return a1 + np.logaddexp(a2, a3)


def _log_alive_term(r, alpha, s, beta, x, T):
    """log of the alive-at-T part of the likelihood: Gamma(r+x) alpha^r beta^s / (Gamma(r) (alpha+T)^(r+x) (beta+T)^s)."""
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) - (r + x) * np.log(alpha + T) - s * np.log(beta + T)


def pareto_nbd_p_alive(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) of the Pareto/NBD model (alive term / likelihood).

    Same as ``pymc_marketing.clv.ParetoNBDModel.expected_probability_alive`` (future_t=0).
    """
    r, alpha, s, beta = map(_draws, (r, alpha, s, beta))
    x, t_x, T = map(_rows, (x, t_x, T))
    log_p = _log_alive_term(r, alpha, s, beta, x, T) - pareto_nbd_loglik(r.ravel(), alpha.ravel(), s.ravel(), beta.ravel(), x.ravel(), t_x.ravel(), T.ravel())
    out = np.exp(np.minimum(log_p, 0.0))
    return np.broadcast_to(out, _out_shape((r, alpha, s, beta), (x, t_x, T))).copy()


def pareto_nbd_expected_purchases(r, alpha, s, beta, x, t_x, T, t) -> np.ndarray:
    r"""Expected purchases in ``(T, T + t]`` given the history, Pareto/NBD.

    .. math::

        E = P(\text{alive}) \frac{(r + x)(\beta + T)}{(\alpha + T)(s - 1)}
            \left[1 - \left(\frac{\beta + T}{\beta + T + t}\right)^{s - 1}\right]

    (Fader & Hardie 2005, eq. 41; the limit ``(r+x)/(alpha+T) (beta+T) log(1 + t/(beta+T))``
    at ``s = 1``). With ``x = t_x = T = 0`` it is the expectation for a new customer.
    Same as ``ParetoNBDModel.expected_purchases`` / ``expected_purchases_new_customer``.
    """
    r, alpha, s, beta = map(_draws, (r, alpha, s, beta))
    x, t_x, T, t = map(_rows, (x, t_x, T, t))
    p_alive = pareto_nbd_p_alive(r.ravel(), alpha.ravel(), s.ravel(), beta.ravel(), x.ravel(), t_x.ravel(), T.ravel())
    out = p_alive * _pareto_expected_if_alive(r, alpha, s, beta, x, T, t)
    return np.broadcast_to(out, _out_shape((r, alpha, s, beta), (x, t_x, T, t))).copy()


def pareto_nbd_prob_n_purchases(r, alpha, s, beta, x, t_x, T, t, n) -> np.ndarray:
    r"""Conditional PMF ``P(X(T, T + t) = n | x, t_x, T)`` of the Pareto/NBD model.

    Given alive at T (probability :func:`pareto_nbd_p_alive`), with
    :math:`r' = r + x, \alpha' = \alpha + T, \beta' = \beta + T` the customer's remaining
    lifetime :math:`\tau` is Lomax(s, beta') and the purchases in a time :math:`u` are
    NB(n; r', alpha'/(alpha'+u)), so

    .. math::

        P(X = n \mid \text{alive}) = \left(\frac{\beta'}{\beta' + t}\right)^{s} NB(n; t)
            + \int_0^t \frac{s\,\beta'^s}{(\beta' + \tau)^{s+1}} NB(n; \tau)\,d\tau,

    the conditional PMF of Fader & Hardie (2014), "Deriving the conditional PMF of the
    Pareto/NBD model", written as an integral over the dropout time instead of with
    differences of hypergeometric functions, which cancel badly. The integral is
    evaluated by composite Gauss-Legendre quadrature (8 panels x 16 nodes; smooth
    integrand, error below 1e-8 in the tests). Agrees with
    ``ParetoNBDModel.expected_purchase_probability``.

    Memory: ``n_draws x n_rows x 128`` doubles per call; chunk rows upstream.
    """
    r, alpha, s, beta = map(_draws, (r, alpha, s, beta))
    x, t_x, T, t, n = map(_rows, (x, t_x, T, t, n))
    if np.any(n < 0) or np.any(n != np.floor(n)):
        raise ValueError("n must be a non-negative integer")
    shape = _out_shape((r, alpha, s, beta), (x, t_x, T, t, n))
    p_alive = pareto_nbd_p_alive(r.ravel(), alpha.ravel(), s.ravel(), beta.ravel(), x.ravel(), t_x.ravel(), T.ravel())
    if_alive = _pareto_pmf_if_alive(r + x, alpha + T, s, beta + T, t, n)
    out = np.where(n == 0, 1.0 - p_alive * (1.0 - if_alive), p_alive * if_alive)
    return np.broadcast_to(out, shape).copy()


def _pareto_pmf_if_alive(r1, a1, s, b1, t, n) -> np.ndarray:
    """P(X(T, T + t) = n) of a customer alive at T whose future is a fresh Pareto/NBD
    process with (r1, a1, s, b1) = (r + x, alpha + T, s, beta + T): see
    :func:`pareto_nbd_prob_n_purchases`. Shapes broadcast as (draws, rows)."""
    return _pareto_survive_term(r1, a1, s, b1, t, n) + _pareto_dropout_integrals(r1, a1, s, b1, 0.0, t, [n])[0]


def _log_nb_constant(r1, n):
    return gammaln(r1 + n) - gammaln(r1) - gammaln(n + 1.0)


def _pareto_survive_term(r1, a1, s, b1, t, n) -> np.ndarray:
    """P(lifetime > t) x NB(n; t): still alive at T + t with n purchases."""
    # log NB(n; r', alpha'/(alpha'+u)) = const - r' log(1 + u/alpha') + n log(u/(alpha'+u))
    return np.exp(-s * np.log1p(t / b1) + _log_nb_constant(r1, n) - r1 * np.log1p(t / a1) + xlogy(n, t / (a1 + t)))


def _quadrature_nodes(t0, t1) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes ``tau`` in [t0, t1] and their weights (interval
    length included), on a new last axis. 16 nodes per panel; 8 panels over the longest
    interval of the call and proportionally fewer over shorter ones (the bisection of
    :func:`time_to_next_purchase_quantile` integrates ever shorter pieces)."""
    t0, t1 = np.asarray(t0, dtype=float), np.asarray(t1, dtype=float)
    length = t1 - t0
    longest = float(np.max(length, initial=0.0))
    reach = float(np.max(t1, initial=0.0))
    panels = max(1, min(_GL_PANELS, int(np.ceil(_GL_PANELS * longest / reach)))) if reach > 0 else 1
    # node k of panel j at (j + (x_k + 1)/2) / P of the interval
    offsets = (np.arange(panels)[:, None] + (_GL_X[None, :] + 1.0) / 2.0).ravel() / panels
    weights = np.tile(_GL_W, panels) / (2.0 * panels)
    return t0[..., None] + length[..., None] * offsets, length[..., None] * weights


def _pareto_dropout_density_times_nb0(r1, a1, s, b1, tau) -> np.ndarray:
    """Lomax(s, b1) density of the dropout time at ``tau`` times NB(0; tau), the
    probability of no purchase before it (``tau`` on the last axis)."""
    expand = lambda v: np.asarray(v, dtype=float)[..., None]  # noqa: E731
    log_base = expand(np.log(s) + s * np.log(b1))  # node-independent: once per draw x row
    return np.exp(log_base - (expand(s) + 1.0) * np.log(expand(b1) + tau) - expand(r1) * np.log1p(tau / expand(a1)))


def _pareto_dropout_integrals(r1, a1, s, b1, t0, t1, ns) -> list[np.ndarray]:
    """For each n of ``ns``: the integral over the dropout time tau in [t0, t1] of its
    Lomax(s, b1) density times NB(n; tau) (dropped out then, with n purchases before).
    The integrands share the n = 0 one: NB(n; tau) / NB(0; tau) =
    Gamma(r'+n) / (Gamma(r') n!) (tau / (alpha'+tau))^n."""
    tau, weights = _quadrature_nodes(t0, t1)
    base = weights * _pareto_dropout_density_times_nb0(r1, a1, s, b1, tau)
    expand = lambda v: np.asarray(v, dtype=float)[..., None]  # noqa: E731
    out = []
    for n in ns:
        n = np.asarray(n, dtype=float)
        integrand = base
        if np.any(n != 0):
            integrand = base * np.exp(expand(_log_nb_constant(r1, n)) + xlogy(expand(n), tau / (expand(a1) + tau)))
        out.append(np.sum(integrand, axis=-1))
    return out


def _pareto_expected_if_alive(r, alpha, s, beta, x, T, t) -> np.ndarray:
    """E[X(T, T + t)] of a customer alive at T (the factor after P(alive) in
    :func:`pareto_nbd_expected_purchases`)."""
    log1p_t = np.log1p(t / (beta + T))
    sm1 = s - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # (1 - (1 + u)^-(s-1)) / (s-1), continuous at s = 1 (-> log(1 + u))
        lifetime = np.where(np.abs(sm1) > 1e-8, -np.expm1(-sm1 * log1p_t) / sm1, log1p_t)
    return (r + x) / (alpha + T) * (beta + T) * lifetime


PARETO_ROWS_PER_BLOCK = 256  # quadrature memory: draws x rows x 128 doubles per block


def pareto_nbd_future_if_alive(r, alpha, s, beta, x, T, t) -> dict[str, np.ndarray]:
    """``expected``, ``p_none`` and ``p_one`` of the purchases in ``(T, T + t]`` of a
    Pareto/NBD customer alive at T (as :func:`bgnbd_future_if_alive`); rows are taken
    :data:`PARETO_ROWS_PER_BLOCK` at a time to bound the quadrature's memory."""
    r, alpha, s, beta = map(_draws, (r, alpha, s, beta))
    x, T, t = np.broadcast_arrays(*map(_rows, (x, T, t)))
    shape = _out_shape((r, alpha, s, beta), (x, T, t))
    out = {"expected": np.broadcast_to(_pareto_expected_if_alive(r, alpha, s, beta, x, T, t), shape)}
    blocks = []
    for i, j in _blocks(shape[1], PARETO_ROWS_PER_BLOCK):
        r1, a1, b1, t_ = r + x[:, i:j], alpha + T[:, i:j], beta + T[:, i:j], t[:, i:j]
        integrals = _pareto_dropout_integrals(r1, a1, s, b1, 0.0, t_, [0.0, 1.0])
        blocks.append([_pareto_survive_term(r1, a1, s, b1, t_, n) + integrals[n] for n in (0, 1)])
    for k, name in enumerate(("p_none", "p_one")):
        parts = [np.broadcast_to(block[k], (shape[0], block[k].shape[-1])) for block in blocks]
        out[name] = np.concatenate(parts, axis=1) if parts else np.zeros(shape)
    return out


def _blocks(n: int, size: int):
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _if_alive_shaped(expected_if_alive):
    """(*params, x=, T=, t=) -> (draws, rows) from a function of shaped draws and rows."""
    def shaped(*params, x, T, t):
        params = tuple(map(_draws, params))
        x, T, t = map(_rows, (x, T, t))
        return np.broadcast_to(expected_if_alive(*params, x, T, t), _out_shape(params, (x, T, t)))
    return shaped


def mbgnbd_future_if_alive(r, alpha, a, b, x, T, t) -> dict[str, np.ndarray]:
    """:func:`bgnbd_future_if_alive` of an MBG/NBD customer: alive at T, the future is a
    fresh BG/NBD process with ``b + 1`` in place of ``b`` (see the MBG/NBD comment)."""
    return bgnbd_future_if_alive(r, alpha, a, np.asarray(b, dtype=float) + 1.0, x, T, t)


@dataclass(frozen=True)
class NoOrderCurve:
    """t -> P(no purchase in (T, T + t] | alive at T), shape (draws, rows) for a (1, rows)
    array of times, computable piece by piece.

    ``value(t, carry)`` is the probability at t given ``carry``, the part accumulated up
    to t, and ``advance(carry, t0, t1)`` carries it from t0 to t1. A closed form carries
    nothing; Pareto/NBD carries the integral over earlier dropout times, so a bisection
    integrates only the piece it adds.
    """

    value: Callable
    advance: Callable = lambda carry, t0, t1: 0.0  # noqa: E731

    def __call__(self, t) -> np.ndarray:
        return self.value(t, self.advance(0.0, 0.0, t))


def _nbd_p_none_if_alive(r, alpha, x, T) -> NoOrderCurve:
    """BG/NBD and MBG/NBD: a purchase comes before any dropout, so P(none | alive) is the
    NBD zero term ((alpha+T)/(alpha+T+t))^(r+x)."""
    shape, scale = _draws(r) + _rows(x), _draws(alpha) + _rows(T)
    return NoOrderCurve(lambda t, carry: np.exp(-shape * np.log1p(t / scale)))


def _pareto_p_none_if_alive(r, alpha, s, beta, x, T) -> NoOrderCurve:
    r, alpha, s, beta = map(_draws, (r, alpha, s, beta))
    x, T = map(_rows, (x, T))
    r1, a1, b1 = r + x, alpha + T, beta + T
    return NoOrderCurve(
        value=lambda t, carry: _pareto_survive_term(r1, a1, s, b1, t, 0.0) + carry,
        advance=lambda carry, t0, t1: carry + _pareto_dropout_integrals(r1, a1, s, b1, t0, t1, [0.0])[0],
    )


@dataclass(frozen=True)
class PurchaseMath:
    """The numpy quantities of one purchase model, over posterior draws x history rows.

    ``future_if_alive(**params, x, T, t)``, ``expected_if_alive(*params, x=, T=, t=)``
    (its ``expected`` alone, without the probabilities) and ``p_none_if_alive(**params,
    x, T)`` (a :class:`NoOrderCurve`) describe a customer alive at T; everything per
    customer is P(alive) times them (the predictions compute them once per distinct
    (frequency, T), see ``predict``).
    """

    parameters: tuple[str, ...]
    p_alive: Callable
    expected_purchases: Callable
    prob_n_purchases: Callable
    future_if_alive: Callable
    expected_if_alive: Callable
    p_none_if_alive: Callable


PURCHASE_MATH: Mapping[str, PurchaseMath] = {
    "bgnbd": PurchaseMath(
        ("r", "alpha", "a", "b"), bgnbd_p_alive, bgnbd_expected_purchases, bgnbd_prob_n_purchases,
        bgnbd_future_if_alive, _if_alive_shaped(_expected_if_alive),
        lambda r, alpha, a, b, x, T: _nbd_p_none_if_alive(r, alpha, x, T),
    ),
    "mbgnbd": PurchaseMath(
        ("r", "alpha", "a", "b"), mbgnbd_p_alive, mbgnbd_expected_purchases, mbgnbd_prob_n_purchases,
        mbgnbd_future_if_alive,
        _if_alive_shaped(lambda r, alpha, a, b, x, T, t: _expected_if_alive(r, alpha, a, b + 1.0, x, T, t)),
        lambda r, alpha, a, b, x, T: _nbd_p_none_if_alive(r, alpha, x, T),
    ),
    "pareto_nbd": PurchaseMath(
        ("r", "alpha", "s", "beta"), pareto_nbd_p_alive, pareto_nbd_expected_purchases, pareto_nbd_prob_n_purchases,
        pareto_nbd_future_if_alive, _if_alive_shaped(_pareto_expected_if_alive), _pareto_p_none_if_alive,
    ),
}


# --------------------------------------------------------------------------- #
# Gamma-Gamma
# --------------------------------------------------------------------------- #
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
    p, q, v = map(_draws, (p, q, v))
    x, m = map(_rows, (x, m))
    xm = np.where(x > 0, x * np.where(x > 0, m, 0.0), 0.0)
    denom = p * x + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom > 0, p * (v + xm) / denom, np.nan)
    return np.broadcast_to(out, _out_shape((p, q, v), (x, m))).copy()
