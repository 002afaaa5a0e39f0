"""What the BG/NBD family (BG/NBD, :mod:`~clv_assets.stats.purchase.bgnbd`; MBG/NBD,
:mod:`~clv_assets.stats.purchase.mbgnbd`) shares: the future of a customer alive at T,
and the priors, likelihood and PyMC builder.

Both models have ``lambda ~ Gamma(r, alpha)`` purchase rates and a dropout coin
``p ~ Beta(a, b)`` tossed after every repeat purchase (MBG/NBD also after the first). Given
the history, a customer alive at T continues as a *fresh* BG/NBD process with the updated
parameters ``r' = r + x``, ``alpha' = alpha + T``, ``a`` and ``b' = b + x`` (BG/NBD) or
``b + x + 1`` (MBG/NBD): every function here takes the ``b`` whose ``b + x`` is that
``b'`` (MBG/NBD passes ``b + 1``), or ``b'`` itself (``b1``). What differs between the
two, P(alive) and the "died" term of the likelihood, is in each model's module. Shapes
and units as in :mod:`~clv_assets.stats.purchase.bgnbd`.

Pareto/NBD (:mod:`~clv_assets.stats.purchase.pareto_nbd`) shares none of this: its
dropout is an exponential lifetime, not a coin per purchase. What every purchase model
shares (shapes, the no-order curve, the next-order search) is in
:mod:`clv_assets.stats.numerics`.

References: Fader, Hardie & Lee (2005), eqs. 8-10, and Fader & Hardie (2019), section 5
(see :mod:`~clv_assets.stats.purchase.bgnbd`); Batislam, Denizel & Filiztekin (2007).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import betainc, betaln, gammaln, hyp2f1, xlogy

from clv_assets.stats.numerics import NoOrderCurve, as_draws, as_rows, out_shape
from clv_assets.stats.specs import PurchaseModel

if TYPE_CHECKING:  # pandas only annotates the builders' rows
    import pandas as pd

# the sampled variables of both (pymc-marketing's), in the order the builder creates them,
# and the scale each is pooled on: a = phi kappa and b = (1 - phi) kappa are derived
POOLED_VARIABLES = {"alpha": "log", "r": "log", "phi_dropout": "logit", "kappa_dropout": "log"}
_A_NEAR_ONE = 1e-5  # half-width of the interpolation band around a = 1


def expected_if_alive(r, alpha, a, b, x, T, t) -> np.ndarray:
    """E[X(T, T+t)] of a customer alive at T: the bracket of eq. (10) of Fader, Hardie &
    Lee (2005) (see :func:`~clv_assets.stats.purchase.bgnbd.bgnbd_expected_purchases`)."""
    z = t / (alpha + T + t)

    def e_if_alive(a_):
        c = a_ + b + x - 1.0
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            tail = np.exp((a_ - 1.0) * np.log1p(-z)) * hyp2f1(a_ + b - 1.0 - r, a_ - 1.0, c, z)
        out = c / (a_ - 1.0) * (1.0 - tail)
        # Euler's form fails (0 * inf, or a wrong sign) for large a (a >~ 150, a few % of the
        # draws of a small account's own-prior fit, whose kappa = a + b has a Pareto tail);
        # there the original (Pfaff) form (1 - z)^(r+x) 2F1(r + x, b + x; c; z) is accurate,
        # and it is the one that fails for large x with small a: they never fail together.
        bad = ~(np.isfinite(out) & (out >= 0.0))
        if np.any(bad):
            a_, b_, r_, x_, z_, c_ = (np.broadcast_to(v, out.shape)[bad] for v in (a_, b, r, x, z, c))
            out = np.array(out, dtype=float)
            tail = np.exp((r_ + x_) * np.log1p(-z_)) * hyp2f1(r_ + x_, b_ + x_, c_, z_)
            out[bad] = c_ / (a_ - 1.0) * (1.0 - tail)
        return out

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
    out = np.where(t > 0, e_alive, 0.0)
    if not np.all(np.isfinite(out)):
        raise ValueError("BG/NBD expected purchases: non-finite for some posterior draw and history (parameters outside the range the closed forms evaluate)")
    return out


def future_if_alive(r, alpha, a, b, x, T, t) -> dict[str, np.ndarray]:
    r"""Future purchases in ``(T, T + t]`` of a customer who is alive at ``T``.

    These depend on the history only through ``(x, T)`` (not ``t_x``), so callers
    evaluate them once per distinct ``(x, T)`` and multiply by the per-customer
    P(alive): ``E = P(alive) * expected``, ``P(X=0) = 1 - P(alive) (1 - p_none)``,
    ``P(X=1) = P(alive) * p_one``. With :math:`\pi = (\alpha+T)/(\alpha+T+t)`,
    :math:`r' = r + x`, :math:`b' = b + x` (eq. 8 of Fader, Hardie & Lee 2005 at
    the updated parameters):

    * ``expected``: :func:`expected_if_alive`;
    * ``p_none`` = :math:`\pi^{r'}`;
    * ``p_one`` = :math:`\frac{b'}{a+b'} r' \pi^{r'} (1-\pi) + \frac{a}{a+b'} (1 - \pi^{r'})`.

    Returns
    -------
    dict of str to numpy.ndarray, each of shape (n_draws, n_rows)
    """
    r, alpha, a, b = map(as_draws, (r, alpha, a, b))
    x, T, t = map(as_rows, (x, T, t))
    shape = out_shape((r, alpha, a, b), (x, T, t))
    r1, b1 = r + x, b + x
    log_pi = -np.log1p(t / (alpha + T))
    p_none = np.exp(r1 * log_pi)
    one_minus_pi = t / (alpha + T + t)
    p_one = b1 / (a + b1) * r1 * p_none * one_minus_pi + a / (a + b1) * -np.expm1(r1 * log_pi)
    expected = expected_if_alive(r, alpha, a, b, x, T, t)
    return {k: np.broadcast_to(v, shape) for k, v in (("expected", expected), ("p_none", p_none), ("p_one", p_one))}


def mix_with_dead(p_alive, r1, alpha1, a, b1, t, n) -> np.ndarray:
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


def mix_with_dead_range(p_alive, r1, alpha1, a, b1, t, n_start: int, n_stop: int) -> list[np.ndarray]:
    r""":func:`mix_with_dead` for every n in [n_start, n_stop) at once, sharing the work.

    From one n to the next the negative-binomial term NB(n) and the ratio
    B(a, b' + n) / B(a, b') change by a factor, so they are carried in log space (a
    ``log`` per step instead of ``gammaln`` and ``betaln``); the tail
    :math:`I_{1-\pi}(n, r')` = P(NB >= n) takes one ``betainc`` at the top of the range and
    is carried downwards by adding NB(n), a sum of positive terms that stays accurate deep
    in the tail (carried upwards it would subtract).
    """
    if n_start < 0 or n_stop <= n_start:
        raise ValueError(f"need 0 <= n_start < n_stop, got [{n_start}, {n_stop})")
    log_pi = -np.log1p(t / alpha1)
    one_minus_pi = t / (alpha1 + t)
    with np.errstate(divide="ignore"):
        log_one_minus_pi = np.log(one_minus_pi)  # -inf at t = 0: no orders in no time
    log_lb = betaln(a, b1)
    log_nb = gammaln(r1 + n_start) - gammaln(r1) - gammaln(n_start + 1.0) + r1 * log_pi + xlogy(n_start, one_minus_pi)
    # log B(a, b' + n) / B(a, b') from n_start - 1 (the "died" term of n_start needs it)
    log_ratio = betaln(a, b1 + max(n_start - 1, 0)) - log_lb
    ratios, nbs = {n_start - 1: log_ratio}, {}
    for n in range(n_start, n_stop):
        if n > n_start:
            log_nb = log_nb + np.log((r1 + n - 1.0) / n) + log_one_minus_pi
        if n > 0:
            log_ratio = log_ratio + np.log((b1 + n - 1.0) / (a + b1 + n - 1.0))
        ratios[n], nbs[n] = log_ratio if n > 0 else np.zeros_like(log_ratio), np.exp(log_nb)
    tail = {}
    if n_stop > 1:
        top = n_stop - 1
        tail[top] = betainc(float(top), r1, one_minus_pi)
        for n in range(top - 1, max(n_start, 1) - 1, -1):
            tail[n] = tail[n + 1] + nbs[n]
    out = []
    for n in range(n_start, n_stop):
        if n == 0:  # the exact, cancellation-free form 1 - P(alive) (1 - pi^r')
            out.append(1.0 + p_alive * np.expm1(r1 * log_pi))
            continue
        alive_after_n = np.exp(ratios[n]) * nbs[n]
        # B(a + 1, b' + n - 1) / B(a, b') = B(a, b' + n - 1) / B(a, b') x a / (a + b' + n - 1)
        died_after_n = np.exp(ratios[n - 1]) * a / (a + b1 + n - 1.0) * tail[n]
        out.append(p_alive * (alive_after_n + died_after_n))
    return out


def nbd_p_none_if_alive(r, alpha, x, T) -> NoOrderCurve:
    """BG/NBD and MBG/NBD: a purchase comes before any dropout, so P(none | alive) is the
    NBD zero term ((alpha+T)/(alpha+T+t))^(r+x)."""
    # the draws and the rows apart: the next-order search takes rows of the curve at every
    # probe, a copy of the rows alone rather than of (draws, rows) arrays
    return NoOrderCurve(_nbd_zero, _nbd_zero_and_slope, (as_draws(r), as_rows(x), as_draws(alpha), as_rows(T)))


def _nbd_zero(t, r, x, alpha, T):
    return _nbd_zero_of(t, r + x, alpha + T)


def _nbd_zero_and_slope(t, r, x, alpha, T):
    shape, scale = r + x, alpha + T
    zero = _nbd_zero_of(t, shape, scale)
    return zero, -shape / (scale + t) * zero


def _nbd_zero_of(t, shape, scale):
    return np.exp(-shape * np.log1p(t / scale))


# --------------------------------------------------------------------------- #
# priors and PyMC model
# --------------------------------------------------------------------------- #
def beta_geo_priors(spec: PurchaseModel) -> dict:
    """The default priors of ``spec``'s pymc-marketing class (``BetaGeoModel``,
    ``ModifiedBetaGeoModel``), the purchase-rate scale ``alpha`` restated per day."""
    import pymc_marketing.clv

    from clv_assets.stats.fitting import in_days

    config = getattr(pymc_marketing.clv, spec.reference)().default_model_config
    return {name: in_days(config[name]) if name == "alpha" else config[name] for name in spec.pooled_variables}


def beta_geo_model(rows: pd.DataFrame, loglik, priors: dict, spec: PurchaseModel):
    """The weighted BG/NBD-family model on distinct (frequency, recency, T) rows with counts
    ``n``: ``loglik(data, r=, alpha=, a=, b=)`` is the sum over rows of count x
    log-likelihood; samples (phi_dropout, kappa_dropout) and reports a = phi kappa,
    b = (1 - phi) kappa as pymc-marketing does."""
    import pymc as pm

    from clv_assets.stats.fitting import data_variables, prior_variables

    with pm.Model() as model:
        data = data_variables(spec.data(rows))
        v = prior_variables(priors, spec.pooled_variables)
        a = pm.Deterministic("a", v["phi_dropout"] * v["kappa_dropout"])
        b = pm.Deterministic("b", (1.0 - v["phi_dropout"]) * v["kappa_dropout"])
        pm.Potential("likelihood", loglik(data, r=v["r"], alpha=v["alpha"], a=a, b=b))
    return model


def beta_geo_likelihood_data(values: dict) -> dict:
    """The arrays :func:`beta_geo_weighted_loglik` reads, from distinct rows' columns and
    counts: the counts per distinct frequency, the one-time buyers' ages and the repeat
    buyers' rows. A history outside the model (negative, or a last order after the
    customer's age) is an error here, where pymc-marketing's likelihood would make it -inf."""
    x, t_x, T, n = values["frequency"], values["recency"], values["T"], values["n"]
    bad = (x < 0) | (t_x < 0) | (t_x > T)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"purchase model: {int(bad.sum())} row(s) are not histories (frequency >= 0, 0 <= recency <= T), "
            f"e.g. frequency={x[i]}, recency={t_x[i]}, T={T[i]}"
        )
    levels, level = np.unique(x, return_inverse=True)
    repeat = x > 0
    return {
        "x_level": levels, "n_level": np.bincount(level, weights=n, minlength=len(levels)),
        "T_once": T[~repeat], "n_once": n[~repeat],
        "x_repeat": x[repeat], "t_x_repeat": t_x[repeat], "T_repeat": T[repeat], "n_repeat": n[repeat],
    }


def beta_geo_weighted_loglik(data: dict, r, alpha, a, b, *, modified: bool):
    """The weighted log-likelihood of BG/NBD (``modified=False``) or MBG/NBD
    (``modified=True``: a customer may drop out at the first purchase too, so every
    beta-function argument b + x becomes b + x + 1 and one-time buyers have a "died" term,
    as in pymc-marketing's ``ModifiedBetaGeoNBD``), on :func:`beta_geo_likelihood_data`.

    The cost is what makes it differ from the distributions' logp: the gamma-function
    terms depend on a row only through its frequency, so they are evaluated once per
    distinct frequency (~50 of them); per row only two logs and a logaddexp remain.
    """
    import pytensor.tensor as pt

    shift = 1.0 if modified else 0.0
    x_level = data["x_level"]
    per_frequency = pt.dot(
        data["n_level"],
        pt.gammaln(r + x_level) + pt.gammaln(b + x_level + shift) - pt.gammaln(a + b + x_level + shift),
    )
    per_customer = pt.sum(data["n_level"]) * (pt.gammaln(a + b) - pt.gammaln(b) - pt.gammaln(r) + r * pt.log(alpha))
    x = data["x_repeat"]
    alive = -(r + x) * pt.log(alpha + data["T_repeat"])
    died = pt.log(a) - pt.log(b + x - 1.0 + shift) - (r + x) * pt.log(alpha + data["t_x_repeat"])
    repeat = pt.dot(data["n_repeat"], pt.logaddexp(alive, died))
    once_alive = -r * pt.log(alpha + data["T_once"])
    if modified:  # recency 0: the "died" term is log a - log b - r log alpha
        once_alive = pt.logaddexp(once_alive, pt.log(a) - pt.log(b) - r * pt.log(alpha))
    return per_frequency + per_customer + repeat + pt.dot(data["n_once"], once_alive)

