"""Numerics shared by the models' posterior quantities: pure numpy.

* Shapes: model parameters come as 1-D arrays of posterior draws and customer histories
  as 1-D arrays of rows; every quantity is an array of shape ``(n_draws, n_rows)``
  (:func:`as_draws`, :func:`as_rows`, :func:`out_shape`); :func:`thin` keeps evenly
  spaced draws.
* The next-order date: :func:`time_to_next_purchase_quantile` searches the day at which a
  model's :class:`NoOrderCurve` makes a next purchase more likely than ``q``.
* Quadrature: composite Gauss-Legendre nodes (:func:`quadrature_nodes`) for integrals
  without a closed form (the Pareto/NBD dropout time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

_GL_PANELS, _GL_NODES = 8, 16
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_NODES)


# --------------------------------------------------------------------------- #
# shapes
# --------------------------------------------------------------------------- #
def as_draws(v) -> np.ndarray:
    """Posterior draws (scalar or 1-D) -> column of shape (n_draws, 1)."""
    arr = np.asarray(v, dtype=float)
    if arr.ndim > 1:
        raise ValueError(f"posterior draws must be 0-D or 1-D, got shape {arr.shape}")
    return arr.reshape(-1, 1)


def as_rows(v) -> np.ndarray:
    """Customer rows (scalar or 1-D) -> row of shape (1, n_rows)."""
    arr = np.asarray(v, dtype=float)
    if arr.ndim > 1:
        raise ValueError(f"customer rows must be 0-D or 1-D, got shape {arr.shape}")
    return arr.reshape(1, -1)


def out_shape(draw_arrays, row_arrays) -> tuple[int, int]:
    """(n_draws, n_rows) of a quantity of the given draw columns and history rows."""
    n_d = np.broadcast_shapes(*(a.shape for a in draw_arrays))[0]
    n_r = np.broadcast_shapes(*(a.shape for a in row_arrays))[1]
    return n_d, n_r


def thin(draws: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """At most ``n`` evenly spaced draws of each parameter, chains flattened."""
    flat = {k: np.asarray(v, float).reshape(-1) for k, v in draws.items()}
    size = len(next(iter(flat.values())))
    index = np.unique(np.linspace(0, size - 1, min(n, size)).round().astype(int))
    return {k: v[index] for k, v in flat.items()}


def blocks(n: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive blocks of at most ``size`` among ``n`` rows."""
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def shaped_if_alive(expected_if_alive: Callable) -> Callable:
    """``(*params, x=, T=, t=) -> (draws, rows)`` from a function of already shaped
    draws (columns) and rows."""

    def shaped(*params, x, T, t):
        params = tuple(map(as_draws, params))
        x, T, t = map(as_rows, (x, T, t))
        return np.broadcast_to(expected_if_alive(*params, x, T, t), out_shape(params, (x, T, t)))

    return shaped


# --------------------------------------------------------------------------- #
# quadrature
# --------------------------------------------------------------------------- #
def quadrature_nodes(t0, t1) -> tuple[np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------------- #
# next-order date
# --------------------------------------------------------------------------- #
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


def time_to_next_purchase_quantile(
    p_alive: np.ndarray, p_none_if_alive: NoOrderCurve, q: float = 0.5, horizon: float = 365.0, *, tol: float = 1e-3
) -> np.ndarray:
    r"""Smallest :math:`t^* \in (0, \text{horizon}]` at which the posterior-mean
    probability of a next purchase, mean over draws of
    ``p_alive * (1 - p_none_if_alive(t))``, reaches ``q``; NaN where it does not.

    ``p_alive`` has shape (n_draws, n_rows); ``p_none_if_alive`` is the model's
    :class:`NoOrderCurve` for the same rows (a purchase model's ``p_none_if_alive``). The
    probability is continuous and increasing in t, so the root is found by vectorised
    bisection to within ``tol`` days; the upper end of the final bracket is returned. The
    curve is carried along the lower end of the bracket, so each step only adds the piece
    from there to the midpoint.
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
