"""Earlier predictions against what happened: the windows a stored snapshot is scored
over, the sub-horizon prediction of its totals and their predictive distribution.

**Windows.** A snapshot is scored once per window of :data:`CHECKPOINTS` days (and its
horizons themselves), each capped by its horizons (:func:`audit_windows`): the window of
``days`` covers the orders in (as_of, as_of + days] and is scored by the first run whose
as_of is at least as_of + days; its rows are then kept. A run therefore scores a bounded
number of windows whatever the number of snapshots kept.

**Predicted totals.** Per posterior draw and customer, the number of orders N in the
window has the model's own distribution given the history: a customer alive at as_of
(P(alive | frequency, recency, T)) buys as a fresh process that depends on (frequency, T)
alone (``PurchaseModel.future_if_alive``, ``pmf_range``), a dead one never. The spend of
those orders is N order values of Gamma(p, nu) with the customer's scale nu ~ Gamma(p x + q,
v + x m) given the history (Gamma-Gamma). The predicted totals (orders, buyers = customers
with N > 0, spend) are posterior means summed over customers; the same quantities as
:func:`clv_assets.stats.predict.predict_rows` with the horizon set to the window.

**Predictive intervals** (equal-tailed 90%) of a group's total carry both the parameter
uncertainty and each customer's purchase randomness, two ways:

* a group of fewer than ``AuditSettings.exact_below`` customers is simulated customer by
  customer (:func:`simulated_totals`): per sample a posterior draw (taken in turn), each
  customer's N from the model's pmf and the spend from Gamma-Gamma;
* a larger group's total is, per posterior draw, a sum of many independent customers:
  its exact mean and variance per draw (:func:`draw_moments`; orders from the pmf, buyers
  Bernoulli(P(N > 0)), spend a compound sum) make it a normal per draw, and the interval
  is the quantiles of the mixture of those normals over the draws (solved exactly,
  :func:`mixture_interval`). Per draw the work is per distinct history (frequency,
  recency, T) with the customers' counts and sums of m and m^2 per group, never per
  customer; and it is done on ``AuditSettings.posterior_draws`` evenly spaced draws
  (50), each group's moments regressed on the parameters to carry them to every draw
  (:func:`extended_to_all_draws`).

Orders here are transactions: one per customer and day (same-day orders merged), the
unit the models count.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from clv_assets.stats.predict import QUANTILES, PredictionSettings, aligned_draws, base_model_groups, predict, unique_columns
from clv_assets.stats.purchase.bgnbd_covariates import LEVEL_KEYS, with_covariates
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, PURCHASE_MODELS

HISTORY = ("frequency", "recency", "T", "monetary_value")
TOTALS = ("orders", "buyers", "spend")
PMF_TAIL = 1e-6  # the order counts' distribution is cut where less than this is left
MAX_ORDERS = 4096
# the windows (days after a snapshot's as_of) each snapshot is scored over, once each (by
# default; ``AuditConfig.checkpoints``), besides its purchase horizon and horizon
CHECKPOINTS = (7, 30, 90, 180, 365)
PAIRS_PER_BLOCK = 1_000  # bounds the memory of the pmf: (orders x draws x pairs) arrays


@dataclass(frozen=True)
class AuditSettings:
    simulations: int = 400  # simulated totals behind each interval (draws taken in turn)
    chunk_customers: int = 2_000  # bounds memory: (simulations x chunk) arrays
    seed: int = 0
    # groups of at least this many customers get the normal-mixture interval, smaller
    # ones the exact simulation (at 500 customers both agree within a few percent of the
    # interval's width: test_audit_coverage.py)
    exact_below: int = 500
    chunk_rows: int = 4_000  # distinct rows per (draws x rows) block of the moments
    # posterior draws the within-draw variance of orders is evaluated on (the pmf), the
    # others interpolated (:func:`_thinned_second_moment`); 0: every draw
    variance_draws: int = 24
    # posterior draws (evenly spaced) the normal path evaluates, its means included (the
    # per-draw work scales with them), carried to every draw by a per-group regression
    # on the parameters (:func:`extended_to_all_draws`); 0: every draw. The simulated
    # path takes every draw.
    posterior_draws: int = 50
    workers: int = 2  # threads over the chunks of distinct histories (as the predictions')


def audit_windows(purchase_horizon_days: int, horizon_days: int, checkpoints=CHECKPOINTS) -> list[tuple[int, int]]:
    """The (window days, horizon days) a snapshot is scored over: every checkpoint up to
    its longest horizon and the horizons themselves; a window belongs to the purchase
    horizon when it is within it, else to the longer horizon."""
    short, long = sorted((int(purchase_horizon_days), int(horizon_days)))
    days = sorted({int(d) for d in checkpoints if d <= long} | {short, long})
    return [(d, short if d <= short else long) for d in days]


def sub_horizon_means(customers: pd.DataFrame, bg: dict, gg: dict, model: str, days: float) -> pd.DataFrame:
    """Per customer (``customers``' rows, with the :data:`HISTORY` columns): expected orders,
    P(at least one order) and expected spend within ``days`` of the as_of date, posterior
    means from :func:`predict_rows` on the distinct histories (the predictions' own code)."""
    keys = [*HISTORY, *(LEVEL_KEYS if model in COVARIATE_PURCHASE_MODELS else ())]
    histories = customers.groupby(keys, sort=False).size().rename("n").reset_index()
    settings = PredictionSettings(
        horizon_days=days, purchase_horizon_days=days, churn_horizon_days=days, model=model, workers=1
    )
    predicted, _ = predict(_scored(histories, model), bg, gg, settings)
    means = customers[keys].merge(
        predicted[[*keys, "expected_orders", "p_order", "predicted_spend"]], on=keys, how="left"
    )
    return pd.DataFrame(
        {
            "orders": means["expected_orders"].to_numpy(),
            "buyers": means["p_order"].to_numpy(),
            "spend": means["predicted_spend"].to_numpy(),
        },
        index=customers.index,
    )


def aggregated_rows(customers: pd.DataFrame) -> pd.DataFrame:
    """Customers (the :data:`HISTORY` columns) as distinct (frequency, recency, T) rows with
    their count ``n`` and the sums of their order values ``sum_m`` and squares ``sum_m2``:
    the input of :func:`draw_moments` (the SQL of the audit builds the same per group)."""
    m = customers["monetary_value"].to_numpy(float)
    frame = customers[["frequency", "recency", "T"]].assign(n=1, sum_m=m, sum_m2=m * m)
    return frame.groupby(["frequency", "recency", "T"], as_index=False, sort=True).sum()


def draw_moments(
    rows: pd.DataFrame, membership: np.ndarray, bg: dict, gg: dict, model: str, days: float, settings: AuditSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Per posterior draw and group, the exact mean and variance of each total of
    :data:`TOTALS` over the window of ``days``: ``(means, variances, p_order)``, the first
    two dicts of (draws, groups) arrays, ``p_order`` each row's posterior-mean P(order).

    ``rows`` are distinct (frequency, recency, T) with ``n`` customers, ``sum_m`` and
    ``sum_m2`` (sums of their monetary_value and its square); ``membership`` (rows, groups)
    is 1 where the row's customers are in the group. Given a draw, customers are
    independent, so a group's mean and variance are sums over its customers:

    * orders: E[N] = P(alive) E_alive[N], E[N^2] = P(alive) E_alive[N^2], where the alive
      customer's moments (per (frequency, T)) come from the pmf (closed-form mean);
    * buyers: Bernoulli(P(N > 0)), P(N > 0) = P(alive) (1 - P_alive(N = 0));
    * spend S = V_1 + ... + V_N with V_i ~ Gamma(p, nu) sharing the customer's scale
      nu ~ Gamma(a = p x + q, b = v + x m) given the history (independent of N):
      E[S] = E[N] p b / (a - 1) and
      Var(S) = (E[N] p + Var(N) p^2) E[1/nu^2] + E[N]^2 p^2 Var(1/nu), with
      E[1/nu^2] = b^2 / ((a - 1)(a - 2)), Var(1/nu) = E[1/nu^2] - (b / (a - 1))^2
      (infinite when a <= 2: then the variance is inf and the caller simulates).
      Sums over a row's customers need only n, sum(m) and sum(m^2).
    """
    bg, gg = thinned_draws(bg, gg, model, settings.posterior_draws)
    n_draws = len(next(iter(bg.values())))
    groups = membership.shape[1]
    means = {name: np.zeros((n_draws, groups)) for name in TOTALS}
    variances = {name: np.zeros((n_draws, groups)) for name in TOTALS}
    p_order = np.zeros(len(rows))
    if not len(rows):
        return means, variances, p_order
    # given a draw, customers are independent: the groups' moments are sums over the
    # rows of each covariate level (one level of every row without covariates)
    for where, base, params in base_model_groups(_scored(rows, model), bg, model):
        part = rows.iloc[where]
        level_means, level_variances, p_order[where] = _base_draw_moments(
            part, membership[where], params, gg, PURCHASE_MODELS[base], days, settings
        )
        for name in TOTALS:
            means[name] += level_means[name]
            variances[name] += level_variances[name]
    return means, variances, p_order


def _scored(rows: pd.DataFrame, model: str) -> pd.DataFrame:
    """``rows`` as :func:`base_model_groups` reads them: with a covariate model's covariate
    columns from the rows' :data:`LEVEL_KEYS` (as stored with the snapshot)."""
    return with_covariates(rows.reset_index(drop=True)) if model in COVARIATE_PURCHASE_MODELS else rows


def _base_draw_moments(
    rows: pd.DataFrame, membership: np.ndarray, bg: dict, gg: dict, purchase, days: float, settings: AuditSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """:func:`draw_moments` of rows scored at the same parameter draws ``bg`` of the
    model without covariates ``purchase`` (already thinned and aligned with ``gg``)."""
    n_draws = len(next(iter(bg.values())))
    groups = membership.shape[1]
    means = {name: np.zeros((n_draws, groups)) for name in TOTALS}
    variances = {name: np.zeros((n_draws, groups)) for name in TOTALS}
    p_order = np.zeros(len(rows))
    x, t_x, T, n, sum_m, sum_m2 = (rows[c].to_numpy(float) for c in ("frequency", "recency", "T", "n", "sum_m", "sum_m2"))
    # rows repeat a history once per combination of groups: the per-draw work is per
    # distinct history, with the rows' n, sum_m and sum_m2 summed per history and group
    histories, history_of_row = unique_columns(np.stack([x, t_x, T]))
    # one bincount per group and sum (groups are few, rows many)
    by_group = np.ascontiguousarray(membership.T)
    n_hg, sm_hg, sm2_hg = (
        np.column_stack(
            [np.bincount(history_of_row, weights=w * member, minlength=histories.shape[1]) for member in by_group]
        ).reshape(histories.shape[1], membership.shape[1])
        for w in (n, sum_m, sum_m2)
    )
    hx, ht_x, hT = histories
    pairs, pair_of_history = unique_columns(np.stack([hx, hT]))
    future = purchase.future_if_alive(**bg, x=pairs[0], T=pairs[1], t=float(days))
    expected, p_none = np.asarray(future["expected"]), np.asarray(future["p_none"])
    second = _thinned_second_moment(purchase, bg, pairs, float(days), expected, settings.variance_draws)
    p, v = gg["p"][:, None], gg["v"][:, None]
    # the spend's coefficients depend on the frequency alone: per distinct frequency
    freqs, freq_of_history = np.unique(hx, return_inverse=True)
    a = p * freqs + gg["q"][:, None]
    finite = a > 2.0  # else Var(1/nu) is infinite
    inv1 = 1.0 / (a - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv2 = np.where(finite, inv1 / (a - 2.0), np.inf)
    k_mean, k_lin, k_quad = p * inv1, p * inv2, p * p * (inv2 - inv1 * inv1)
    p_history = np.zeros(histories.shape[1])

    def chunk(start: int) -> tuple[dict, dict]:
        """The chunk's share of the groups' per-draw means and variances (its histories'
        P(order) written in place): chunks are independent, so they run on threads
        (numpy releases the GIL) and their shares are summed."""
        part = slice(start, start + settings.chunk_rows)
        xc, pair, f = hx[part], pair_of_history[part], freq_of_history[part]
        nw, sw, s2w = n_hg[part], sm_hg[part], sm2_hg[part]
        alive = purchase.p_alive(**bg, x=xc, t_x=ht_x[part], T=hT[part])  # once per history
        mu = alive * expected[:, pair]
        var = np.maximum(alive * second[:, pair] - mu * mu, 0.0)
        buy = alive * (1.0 - p_none[:, pair])
        # E[S] = E[N] p / (a - 1) (n v + x sum_m) summed over the history's customers
        spend = mu * k_mean[:, f]
        # Var(S) = sum_b2 [p inv2 (E[N] + Var(N) p) + p^2 (inv2 - inv1^2) E[N]^2], with
        # sum_b2 = v^2 n + 2 v x sum_m + x^2 sum_m2; an infinite variance marks its groups
        infinite = ~finite[:, f]
        with np.errstate(invalid="ignore"):
            c = np.where(infinite, 0.0, k_lin[:, f] * (mu + var * p) + k_quad[:, f] * (mu * mu))
        # the sums over the chunk's histories as three products (the quantities stacked:
        # one large product instead of ten small ones)
        per_n = np.split(np.concatenate([mu, buy, spend * v, var, buy * (1.0 - buy), c * (v * v)]) @ nw, 6)
        per_m = np.split((np.concatenate([spend, c * (2.0 * v)]) * xc) @ sw, 2)
        per_m2 = (c * (xc * xc)) @ s2w
        m = {"orders": per_n[0], "buyers": per_n[1], "spend": per_n[2] + per_m[0]}
        s2 = {"orders": per_n[3], "buyers": per_n[4], "spend": per_n[5] + per_m[1] + per_m2}
        if infinite.any():
            s2["spend"][(infinite.astype(float) @ nw) > 0] = np.inf
        p_history[part] = buy.mean(axis=0)
        return m, s2

    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        for m, s2 in pool.map(chunk, range(0, histories.shape[1], settings.chunk_rows)):
            for name in TOTALS:
                means[name] += m[name]
                variances[name] += s2[name]
    p_order[:] = p_history[history_of_row]
    return means, variances, p_order


def thinned_draws(bg: dict, gg: dict, model: str, draws: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`aligned_draws` cut to ``draws`` evenly spaced draws (all when ``draws`` <= 0
    or there are no more than that)."""
    bg, gg = aligned_draws(bg, gg, model)
    pick = thinned_pick(len(next(iter(bg.values()))), draws)
    return {k: v[pick] for k, v in bg.items()}, {k: v[pick] for k, v in gg.items()}


def thinned_pick(n_draws: int, draws: int) -> np.ndarray:
    """``draws`` evenly spaced indices of ``n_draws`` (all when ``draws`` <= 0 or there
    are no more than that)."""
    if draws <= 0 or n_draws <= draws:
        return np.arange(n_draws)
    return np.unique(np.linspace(0, n_draws - 1, draws).round().astype(int))


def extended_to_all_draws(
    means: dict, variances: dict, bg: dict, gg: dict, pick: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The per-draw group moments of :func:`draw_moments`, computed on the draws ``pick``
    of ``bg``, ``gg`` (aligned), carried to every draw.

    A group's per-draw mean (and log variance) is a smooth function of the parameters over
    the posterior: it is regressed, per group, on the standardised log-parameters and
    their squares over the evaluated draws and predicted at the others (an evaluated draw
    keeps its exact value). The mixture over every draw then has the between-draw spread
    of the full posterior, not of the thinned draws alone: with 50 of 200 draws, the
    intervals' ends stay within 2% of their width of the 200-draw ones where the thinned
    draws alone move them by up to 15% (test_audit_coverage.py). Returned
    unchanged when nothing was thinned or too few draws were evaluated for the fit."""
    full = _regressors(bg, gg)
    # 1 + 2 k coefficients per fit (k parameters: linear and squared terms), 20 draws to spare
    if len(pick) >= len(full) or len(pick) < 2 * full.shape[1] + 21 or not np.isfinite(full).all():
        return means, variances
    thin = full[pick]
    centre, scale = thin.mean(axis=0), thin.std(axis=0)
    z = (full - centre) / np.where(scale > 0, scale, 1.0)
    design = np.column_stack([np.ones(len(full)), z, z * z])
    solve = np.linalg.pinv(design[pick])  # (predictors, evaluated draws): one for every fit

    def extend(values: np.ndarray) -> np.ndarray:
        out = design @ (solve @ values)
        out[pick] = values
        return out

    out_means, out_variances = {}, {}
    for name in means:
        out_means[name] = extend(means[name])
        var = variances[name]
        usable = np.isfinite(var).all(axis=0) & (var > 0).all(axis=0)
        extended = np.full((len(full), var.shape[1]), np.inf)
        extended[:, usable] = np.exp(extend(np.log(var[:, usable])))
        # a group with a zero variance on some draw (no customers): zero throughout
        extended[:, np.isfinite(var).all(axis=0) & ~usable] = 0.0
        out_variances[name] = extended
    return out_means, out_variances


def _regressors(bg: dict, gg: dict) -> np.ndarray:
    """The posterior draws as regressors, (draws, columns): the log of each positive
    parameter; a covariate model's coefficients (a column per covariate) as they are,
    already on the log scale of the parameters they scale."""
    columns = []
    for values in (*bg.values(), *gg.values()):
        values = np.asarray(values, float).reshape(len(values), -1)
        columns.append(values if values.shape[1] > 1 or (values <= 0).any() else np.log(values))
    return np.column_stack(columns)


def _alive_second_moment(purchase, bg: dict, pairs: np.ndarray, days: float) -> np.ndarray:
    """E[N^2] of a customer alive at T with history (frequency, T) = ``pairs``, (draws,
    pairs), from the pmf (cut as :func:`_order_count_cdf` cuts it, the rest at the last
    count). A model's pmf is P(alive) times the alive customer's pmf for n >= 1
    (``PurchaseModel``), so it is evaluated at recency = T and divided by that P(alive)."""
    return _alive_moments(purchase, bg, pairs, days)[1]


def _alive_moments(purchase, bg: dict, pairs: np.ndarray, days: float) -> tuple[np.ndarray, np.ndarray]:
    """E[N] and E[N^2] of :func:`_alive_second_moment`, both from the pmf, (draws, pairs)
    each. The pmf is accumulated in steps ([0, 16), [16, 32), [32, 64), ...): each step
    only for the pairs that still have more than :data:`PMF_TAIL` left for some draw, and
    from where the previous step stopped, so a pair's pmf is as long as its own counts
    need (a few pairs of frequent buyers no longer lengthen everyone's)."""
    n_draws = len(next(iter(bg.values())))
    first = np.zeros((n_draws, pairs.shape[1]))
    second = np.zeros((n_draws, pairs.shape[1]))
    for start in range(0, pairs.shape[1], PAIRS_PER_BLOCK):
        block = np.arange(start, min(start + PAIRS_PER_BLOCK, pairs.shape[1]))
        active = block
        total = np.zeros((n_draws, len(block)))
        n_start, n_stop = 0, 16
        while len(active):
            x, T = pairs[:, active]
            pmf = np.nan_to_num(purchase.pmf_range(bg, x, T, T, days, n_start, n_stop), copy=False)
            counts = np.arange(n_start, n_stop, dtype=float)
            first[:, active] += np.tensordot(counts, pmf, axes=1)
            second[:, active] += np.tensordot(counts * counts, pmf, axes=1)
            where = active - start
            total[:, where] += pmf.sum(axis=0)
            left = np.clip(1.0 - total[:, where], 0.0, None)
            more = left.max(axis=0) > PMF_TAIL
            if n_stop >= MAX_ORDERS or not more.any():
                # the rest of the mass at the last count
                first[:, active] += left * float(n_stop - 1)
                second[:, active] += left * float(n_stop - 1) ** 2
                break
            done = active[~more]
            first[:, done] += left[:, ~more] * float(n_stop - 1)
            second[:, done] += left[:, ~more] * float(n_stop - 1) ** 2
            active = active[more]
            n_start, n_stop = n_stop, 2 * n_stop
    alive = purchase.p_alive(**bg, x=pairs[0], t_x=pairs[1], T=pairs[1])
    return first / alive, second / alive


def _thinned_second_moment(
    purchase, bg: dict, pairs: np.ndarray, days: float, expected: np.ndarray, thin: int
) -> np.ndarray:
    """E[N^2] of a customer alive at T per draw and (frequency, T) pair, (draws, pairs),
    with the pmf evaluated on ``thin`` evenly spaced draws only (all of them when
    ``thin`` <= 0 or there are no more draws than that).

    On those draws the pmf gives the ratio c = E[N (N - 1)] / E[N]^2 (1 + 1/r' for a
    Gamma-Poisson count, less with dropout), which varies slowly with the parameters;
    every draw takes the c of its nearest evaluated draw (standardised log-parameters)
    and its own exact mean: E[N^2] = E[N] + c E[N]^2. The between-draw spread of a total
    (its per-draw means) stays exact, only the within-draw variance is interpolated."""
    n_draws = len(expected)
    if thin <= 0 or n_draws <= thin:
        return _alive_second_moment(purchase, bg, pairs, days)
    pick = thinned_pick(n_draws, thin)
    first, second = _alive_moments(purchase, {k: v[pick] for k, v in bg.items()}, pairs, days)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(first > 0, (second - first) / (first * first), 0.0)
    ratio = np.nan_to_num(np.clip(ratio, 0.0, None), copy=False)
    logs = np.log(np.column_stack([np.asarray(v, float) for v in bg.values()]))
    logs = (logs - logs.mean(axis=0)) / np.where(logs.std(axis=0) > 0, logs.std(axis=0), 1.0)
    nearest = np.argmin(((logs[:, None, :] - logs[None, pick, :]) ** 2).sum(axis=2), axis=1)
    return expected + ratio[nearest] * expected * expected


def mixture_interval(means: np.ndarray, variances: np.ndarray, quantiles=QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """The ``quantiles`` (5% and 95%) of a total distributed as the equal-weight mixture over
    posterior draws (axis 0) of normals with ``means`` and ``variances`` (draws, groups):
    the mixture's CDF, mean over draws of Phi((y - mean) / sd), solved by bisection to
    2^-40 of the range (exact up to the normal approximation per draw)."""
    sd = np.sqrt(np.maximum(variances, 1e-12))
    out = []
    for level in quantiles:
        low, high = (means - 9 * sd).min(axis=0), (means + 9 * sd).max(axis=0)
        for _ in range(40):
            middle = 0.5 * (low + high)
            below = ndtr((middle - means) / sd).mean(axis=0) < level
            low, high = np.where(below, middle, low), np.where(below, high, middle)
        out.append(0.5 * (low + high))
    return out[0], out[1]


def simulated_totals(
    customers: pd.DataFrame, membership: np.ndarray, bg: dict, gg: dict, model: str, days: float, settings: AuditSettings
) -> dict[str, np.ndarray]:
    """Simulated totals of :data:`TOTALS` per group: (simulations, groups) arrays.

    ``membership`` (customers, groups) is 1 where a customer belongs to a group (a
    customer may be in several: segments overlap).
    """
    bg, gg = aligned_draws(bg, gg, model)
    n_draws = len(next(iter(bg.values())))
    pick = np.arange(settings.simulations) % n_draws
    p, q, v = (gg[k][pick][:, None] for k in ("p", "q", "v"))
    rng = np.random.default_rng(settings.seed)
    totals = {name: np.zeros((settings.simulations, membership.shape[1])) for name in TOTALS}
    # per covariate level (every customer at once without covariates), in chunks
    chunks = [
        (where[start : start + settings.chunk_customers], PURCHASE_MODELS[base], params)
        for where, base, params in base_model_groups(_scored(customers, model), bg, model)
        for start in range(0, len(where), settings.chunk_customers)
    ]
    for where, purchase, level_draws in chunks:
        chunk = customers.iloc[where]
        weights = membership[where]
        x, t_x, T, m = (chunk[c].to_numpy(float) for c in HISTORY)
        histories, of_row = unique_columns(np.stack([x, t_x, T]))
        # per posterior draw and distinct history, then per simulation and customer
        u = rng.random((settings.simulations, len(chunk)))
        # N = the number of counts k with P(N <= k) < u, counted level by level (never the
        # (counts, simulations, customers) array: hundreds of MB over a year's window);
        # the CDF only grows, so the first level below no u ends it
        orders = np.zeros((settings.simulations, len(chunk)))
        for level in _order_count_cdf(purchase, level_draws, histories, float(days)):
            below = level[pick][:, of_row] < u
            if not below.any():
                break
            orders += below
        # the customer's order-value scale given the repeat orders' mean m, then the sum
        # of the window's order values (Gamma(p N, scale)); zero without an order
        scale = rng.gamma(p * x + q) / (v + x * m)
        spend = rng.gamma(p * orders) / scale
        totals["orders"] += orders @ weights
        totals["buyers"] += (orders > 0) @ weights
        totals["spend"] += spend @ weights
    return totals


def _order_count_cdf(purchase, bg: dict, histories: np.ndarray, days: float):
    """P(N <= n) of the number of orders within ``days``, (draws, histories), for n = 0,
    1, ... in turn, up to where less than :data:`PMF_TAIL` is left (that last level is 1:
    the rest taken as its count). The pmf is computed in blocks of counts ([0, 16), [16,
    32), [32, 64), ...), each only when the caller asks past the one before."""
    cum = np.zeros((len(next(iter(bg.values()))), histories.shape[1]))
    start, stop = 0, 16
    while True:
        pmf = np.nan_to_num(purchase.pmf_range(bg, histories[0], histories[1], histories[2], days, start, stop))
        levels = cum + np.cumsum(pmf, axis=0)
        cum = levels[-1]
        last = np.min(cum) >= 1.0 - PMF_TAIL or stop >= MAX_ORDERS
        if last:
            levels[-1] = 1.0
        yield from levels
        if last:
            return
        start, stop = stop, 2 * stop


def interval(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The equal-tailed 90% interval over simulations (axis 0)."""
    low, high = np.quantile(values, QUANTILES, axis=0)
    return low, high


def group_intervals(
    rows: pd.DataFrame,
    membership: np.ndarray,
    bg: dict,
    gg: dict,
    model: str,
    days: float,
    settings: AuditSettings,
    members=None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per group (``membership``'s columns over the aggregated ``rows``, see
    :func:`draw_moments`): the predicted totals (posterior means) and their 90%
    predictive intervals, as columns ``predicted_<total>``, ``_p05``, ``_p95`` and
    ``interval_method`` ('normal' or 'simulated'); and each row's P(order).

    Groups of fewer than ``settings.exact_below`` customers (or whose spend variance is
    infinite) are simulated: ``members(groups)`` returns those groups' customers (the
    :data:`HISTORY` columns) and their (customers, groups) membership; without it, each
    row of ``rows`` must be one customer (``n`` = 1, ``sum_m`` their monetary_value)."""
    bg, gg = aligned_draws(bg, gg, model)
    pick = thinned_pick(len(next(iter(bg.values()))), settings.posterior_draws)
    thin_bg, thin_gg = ({k: v[pick] for k, v in draws.items()} for draws in (bg, gg))
    means, variances, p_order = draw_moments(rows, membership, thin_bg, thin_gg, model, days, settings)
    means, variances = extended_to_all_draws(means, variances, bg, gg, pick)
    customers = rows["n"].to_numpy(float) @ membership
    out = pd.DataFrame(index=range(membership.shape[1]))
    finite = np.all([np.isfinite(variances[name]).all(axis=0) for name in TOTALS], axis=0)
    simulate = np.flatnonzero((customers < settings.exact_below) | ~finite)
    out["interval_method"] = np.where(np.isin(np.arange(len(out)), simulate), "simulated", "normal")
    for name in TOTALS:
        out[f"predicted_{name}"] = means[name].mean(axis=0)
        low, high = mixture_interval(means[name], np.where(np.isfinite(variances[name]), variances[name], 0.0))
        out[f"predicted_{name}_p05"], out[f"predicted_{name}_p95"] = low, high
    if len(simulate):
        if members is None:
            frame = rows.rename(columns={"sum_m": "monetary_value"})
            people, weights = frame, membership[:, simulate]
        else:
            people, weights = members(simulate)
        simulated = simulated_totals(people, weights, bg, gg, model, days, settings)
        for name in TOTALS:
            low, high = interval(simulated[name])
            out.loc[simulate, f"predicted_{name}_p05"] = low
            out.loc[simulate, f"predicted_{name}_p95"] = high
    return out, p_order


def calibration_bins(p_order: np.ndarray, customers: np.ndarray, buyers: np.ndarray, bins: int) -> pd.DataFrame:
    """Customers in ``bins`` equal-width bins of predicted P(order): count, mean predicted
    probability and observed share that ordered. Each of ``p_order``'s rows stands for
    ``customers`` customers (same history) of whom ``buyers`` ordered."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p_order, edges[1:-1]), 0, bins - 1)
    n = np.asarray(customers, float)
    frame = pd.DataFrame({"bin": index, "n": n, "p": p_order * n, "ordered": np.asarray(buyers, float)})
    out = frame.groupby("bin").sum()
    out = pd.DataFrame(
        {"customers": out["n"].astype(int), "predicted_rate": out["p"] / out["n"], "observed_rate": out["ordered"] / out["n"]}
    ).reset_index()
    out["bin_low"], out["bin_high"] = edges[out["bin"]], edges[out["bin"] + 1]
    return out


def audit_png(rows: pd.DataFrame) -> bytes:
    """Predicted orders (with their 90% predictive interval) and actual orders per scored
    snapshot (``rows``: snapshot_as_of, matured_days, predicted_orders(_p05, _p95),
    actual_orders), as a PNG."""
    from matplotlib.figure import Figure

    from clv_assets.stats.plots import figure_png

    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.subplots()
    x = pd.to_datetime(rows["snapshot_as_of"])
    low = rows["predicted_orders"] - rows["predicted_orders_p05"]
    high = rows["predicted_orders_p95"] - rows["predicted_orders"]
    ax.errorbar(x, rows["predicted_orders"], yerr=[low, high], fmt="o", capsize=3, label="predicted (90% interval)")
    ax.plot(x, rows["actual_orders"], "x", color="black", label="actual")
    ax.set_xlabel("snapshot as_of (orders counted over the matured days since)")
    ax.set_ylabel("orders")
    ax.legend(loc="best", fontsize="small")
    fig.autofmt_xdate()
    return figure_png(fig)
