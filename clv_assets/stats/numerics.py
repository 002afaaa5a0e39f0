"""Numerics shared by the models' posterior quantities: numpy, and numba for the few loops
:func:`compiled` marks (the per-draw arithmetic where numpy's temporaries cost most).

* Shapes: model parameters come as 1-D arrays of posterior draws and customer histories
  as 1-D arrays of rows; every quantity is an array of shape ``(n_draws, n_rows)``
  (:func:`as_draws`, :func:`as_rows`, :func:`out_shape`); :func:`thin` keeps evenly
  spaced draws.
* The next-order date: :func:`time_to_next_purchase_quantile` searches the day at which a
  model's :class:`NoOrderCurve` (closed forms of P(no order) and its slope) makes a next
  purchase more likely than ``q``.
* Quadrature: composite Gauss-Legendre nodes (:func:`quadrature_nodes`) for integrals
  without a closed form (the Pareto/NBD conditional PMF for any n).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache, wraps

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


def full(out: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``out`` as a new array of ``shape``: itself when it already is one (a fresh result of
    the caller's arithmetic), else a broadcast copy. The copy of a full-size result was a
    tenth of the prediction step at a million customers."""
    if out.shape == shape and out.flags.owndata and out.flags.writeable:
        return out
    return np.broadcast_to(out, shape).copy()


def compiled(loop: Callable) -> Callable:
    """``loop`` (a plain loop over numpy arrays) compiled by numba on its first call.

    numba loads only then, and the machine code is cached in ``NUMBA_CACHE_DIR``, so it is
    compiled once per machine. No fast-math: the same IEEE operations in the same order as
    the numpy expression it replaces, so the results are the same bit for bit; ``nogil``:
    the prediction threads run it side by side. For the per-draw arithmetic of a million
    customers, where numpy's full-size temporaries cost more than the arithmetic.
    """

    @cache
    def build() -> Callable:
        import numba

        return numba.njit(cache=True, nogil=True)(loop)

    @wraps(loop)
    def call(*args):
        return build()(*args)

    return call


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
    interval of the call and proportionally fewer over shorter ones."""
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
    """t -> P(no purchase in (T, T + t] | alive at T) of some histories, shape (draws, rows)
    for a (1, rows) array of times, and its slope in t (minus the density of the time to
    the first purchase, so negative).

    ``value_at(t, *params)`` and ``value_and_slope_at(t, *params)`` (both at once: they
    share their costliest factor, which the next-order search needs at every probe) are
    closed forms in the model's ``params``, arrays broadcasting to (draws, rows); a
    parameter of the draws alone (draws, 1) or of the rows alone (1, rows) is best left
    so, as :meth:`take` then copies only what varies. :meth:`take` keeps some of the rows.
    """

    value_at: Callable
    value_and_slope_at: Callable
    params: tuple

    def __call__(self, t) -> np.ndarray:
        return self.value(t)

    def value(self, t) -> np.ndarray:
        return self.value_at(t, *self.params)

    def slope(self, t) -> np.ndarray:
        return self.value_and_slope(t)[1]

    def value_and_slope(self, t) -> tuple[np.ndarray, np.ndarray]:
        return self.value_and_slope_at(t, *self.params)

    def take(self, cols=slice(None), draws=slice(None)) -> NoOrderCurve:
        """The curve of the rows ``cols`` and the posterior draws ``draws`` only."""

        def part(p):
            p = np.asarray(p)
            if p.ndim < 2:
                return p
            return p[draws if p.shape[0] > 1 else slice(None)][:, cols if p.shape[1] > 1 else slice(None)]

        return replace(self, params=tuple(part(p) for p in self.params))


def bisection_halvings(longest: float, tol: float) -> int:
    """How many times a bisection over (0, longest] halves its bracket until it is at most
    ``tol`` wide (at least once)."""
    k = 1
    while longest / 2.0**k > tol:
        k += 1
    return k


def posterior_mean_order_probability(
    p_alive: np.ndarray, cols: np.ndarray, value: np.ndarray, slope: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The posterior means of P(order by t) = ``p_alive * (1 - value)`` and of its slope
    ``-p_alive * slope`` of the rows ``cols`` of ``p_alive``, given the no-order curve's
    ``value`` and ``slope`` there (draws, len(cols)).

    One compiled pass, where numpy gathered the rows' draws and built four full-size
    temporaries per probe of the next-order search. The sums run over the draws in
    order, as numpy's ``mean(axis=0)`` of several columns does, so the search's
    comparisons see the same bits; numpy sums a single column pairwise, so one column is
    left to numpy.
    """
    if cols.size == 1:
        weights = p_alive[:, cols]
        return (weights * (1.0 - value)).mean(axis=0), -(weights * slope).mean(axis=0)
    f, f_slope = np.zeros(cols.size), np.zeros(cols.size)
    _sum_order_probability(p_alive, cols, value, slope, f, f_slope)
    n_draws = p_alive.shape[0]
    return f / n_draws, -(f_slope / n_draws)


@compiled
def _sum_order_probability(p_alive, cols, value, slope, f, f_slope):
    """``f += p_alive[:, cols] * (1 - value)`` and ``f_slope += p_alive[:, cols] * slope``
    summed over the draws (rows of ``value``), in draw order."""
    for d in range(value.shape[0]):
        for i in range(value.shape[1]):
            weight = p_alive[d, cols[i]]
            f[i] += weight * (1.0 - value[d, i])
            f_slope[i] += weight * slope[d, i]


GUESS_DRAWS = 10  # draws of the thinned search that gives the full search its first guess


def time_to_next_purchase_quantile(
    p_alive: np.ndarray, p_none_if_alive: NoOrderCurve, q: float = 0.5, horizon: float = 365.0, *, tol: float = 1e-3
) -> np.ndarray:
    r"""Smallest :math:`t^* \in (0, \text{horizon}]` at which the posterior-mean
    probability of a next purchase, :math:`f(t)` = mean over draws of
    ``p_alive * (1 - p_none_if_alive(t))``, reaches ``q``, to within ``tol`` days; NaN
    where it does not.

    ``p_alive`` has shape (n_draws, n_rows); ``p_none_if_alive`` is the model's
    :class:`NoOrderCurve` for the same rows (a purchase model's ``p_none_if_alive``).

    The answer is the one of a bisection of (0, horizon] down to a bracket at most ``tol``
    wide, the upper end of the final bracket: the first point of the grid of step
    ``horizon / 2**k`` (:func:`bisection_halvings`) where :math:`f \ge q`. The grid is
    searched with fewer evaluations than a bisection. :math:`f` increases and is concave
    (its slope, a mixture of first-purchase densities, decreases), so a Newton step from
    either end of the bracket falls below the crossing and the chord of the bracket
    crosses ``q`` above it. Each round evaluates :math:`f` at two grid points, the one just
    below the Newton steps and one above (the chord's crossing, or the next grid point
    when the Newton step is trusted), which narrow the bracket, until it is one grid step
    wide. The first guess comes from the same search over :data:`GUESS_DRAWS` evenly
    spaced draws. Only the evaluations of :math:`f` decide, so the answer is the grid
    point a bisection finds, whatever the guesses.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if tol <= 0:
        raise ValueError("tol must be positive")
    p_alive = np.atleast_2d(np.asarray(p_alive, dtype=float))
    n_d, n_r = p_alive.shape
    hz = np.broadcast_to(np.asarray(horizon, dtype=float), (n_r,)).astype(float)
    if np.any(~(hz > 0)):
        raise ValueError("horizon must be positive")
    n_steps = 2 ** bisection_halvings(float(hz.max(initial=0.0)), tol)
    step = hz / n_steps
    curve = p_none_if_alive

    def at(cols: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """f and its slope at grid points ``j`` of the rows ``cols``."""
        value, slope = curve.take(cols).value_and_slope((j * step[cols])[None, :])
        return posterior_mean_order_probability(p_alive, cols, value, slope)

    out = np.full(n_r, np.nan)
    f_end, slope_end = at(np.arange(n_r), np.full(n_r, n_steps))
    cols = np.flatnonzero(f_end >= q)
    # the bracket (lo, hi] in grid steps, f and its slope at both ends; f(0) = 0
    lo, hi = np.zeros(cols.size, dtype=np.int64), np.full(cols.size, n_steps, dtype=np.int64)
    f_lo, f_hi, slope_hi = np.zeros(cols.size), f_end[cols], slope_end[cols]
    slope_lo = posterior_mean_order_probability(p_alive, cols, *curve.take(cols).value_and_slope(np.zeros((1, cols.size))))[1]
    # how far above the Newton step the upper probe goes, in grid steps (the chord's
    # crossing caps it): all the way until a guess or a Newton step is close
    reach = np.full(cols.size, n_steps, dtype=np.int64)
    probes: tuple[np.ndarray, ...] = ()
    if n_d >= 4 * GUESS_DRAWS and cols.size:
        thinned = np.unique(np.linspace(0, n_d - 1, GUESS_DRAWS).round().astype(int))
        guess = time_to_next_purchase_quantile(p_alive[thinned][:, cols], curve.take(cols, thinned), q, hz[cols], tol=tol)
        guess = np.where(np.isfinite(guess), np.round(guess / step[cols]), n_steps).astype(np.int64)
        probes = (guess - 1, guess)
        reach[guess < n_steps] = 1

    while cols.size:
        done = hi - lo <= 1
        out[cols[done]] = hi[done] * step[cols[done]]
        cols, lo, hi, f_lo, f_hi, slope_lo, slope_hi, reach = (
            v[~done] for v in (cols, lo, hi, f_lo, f_hi, slope_lo, slope_hi, reach)
        )
        probes = tuple(j[~done] for j in probes)
        if not cols.size:
            break
        if not probes:
            t_lo, t_hi, h = lo * step[cols], hi * step[cols], step[cols]
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = np.fmax(t_lo + (q - f_lo) / slope_lo, t_hi + (q - f_hi) / slope_hi)
                chord = t_lo + (q - f_lo) * (t_hi - t_lo) / (f_hi - f_lo)
            below = np.floor(np.clip(np.nan_to_num(newton / h), lo + 1, hi - 1)).astype(np.int64)
            above = np.ceil(np.clip(np.nan_to_num(chord / h, nan=n_steps), lo + 1, hi - 1)).astype(np.int64)
            probes = (below, np.maximum(np.minimum(above, below + reach), below))
        for j in probes:
            inside = np.flatnonzero((j > lo) & (j < hi))
            f_j, slope_j = at(cols[inside], j[inside])
            reached = f_j >= q
            up, down = inside[reached], inside[~reached]
            hi[up], f_hi[up], slope_hi[up] = j[up], f_j[reached], slope_j[reached]
            lo[down], f_lo[down], slope_lo[down] = j[down], f_j[~reached], slope_j[~reached]
        # the upper probe fell short: look further next time
        reach = np.where(probes[-1] <= lo, np.minimum(reach * 4, n_steps), reach)
        probes = ()
    return out
