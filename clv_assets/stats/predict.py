"""Per-customer predictions from purchase-model and Gamma-Gamma posterior draws.

The purchase model is any of :data:`~clv_assets.stats.registry.PURCHASE_MODELS`
(``PredictionSettings.model``); every quantity comes from its
:class:`~clv_assets.stats.specs.PurchaseModel`, the expected order value from Gamma-Gamma.

Quantities are computed once per distinct (frequency, recency, T, monetary_value) row,
over (thinned) posterior draws, ``chunk_rows`` rows at a time, so memory stays at
O(draws x chunk_rows) whatever the number of customers. Intervals are equal-tailed 90%
posterior intervals of each quantity.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from clv_assets.stats.numerics import compiled, time_to_next_purchase_quantile
from clv_assets.stats.registry import (
    COVARIATE_PURCHASE_MODELS,
    DEFAULT_PURCHASE_MODEL,
    GAMMA_GAMMA,
    PURCHASE_MODELS,
    SERVED_PURCHASE_MODELS,
)

QUANTILES = (0.05, 0.95)
DAYS_PER_YEAR = 365.0
DISCOUNT_STEP_DAYS = 30.0
# The columns predict_rows adds, in this order. The SQL takes them from the frame with
# ``p.*`` (sql/predictions/customers.sql, then sql/marts/customer_profile.sql), so this is
# the one list of them and its order is the tables' column order that BI tools see.
PREDICTION_COLUMNS = [
    "p_alive", "p_alive_p05", "p_alive_p95",
    "expected_orders", "expected_orders_p05", "expected_orders_p95",
    "p_order", "p_order_p05", "p_order_p95",
    "p_multiple_orders",
    "churn_probability",
    "expected_aov", "expected_aov_p05", "expected_aov_p95",
    "predicted_spend", "predicted_spend_p05", "predicted_spend_p95",
    "days_to_next_order",  # stored as the date expected_next_order_date
    # added after the first release (columns are appended, never renamed or reordered)
    "churn_probability_p05", "churn_probability_p95",
    "purchase_probability", "purchase_probability_p05", "purchase_probability_p95",
]


@dataclass(frozen=True)
class PredictionSettings:
    horizon_days: float = 365.0
    # "likely to buy now": P(order within this many days) is purchase_probability
    purchase_horizon_days: float = 30.0
    # churn_probability is P(no order within this many days)
    churn_horizon_days: float = 365.0
    discount_rate: float = 0.0  # annual
    # a chunk's (draws x rows) arrays stay a few MB, near the cores' caches: 10,000 rows
    # took more memory (100k account: 982 -> 835 MB) and no less time
    chunk_rows: int = 2_000
    workers: int = 2
    model: str = DEFAULT_PURCHASE_MODEL  # the purchase model whose draws are given


def discounted_expected_if_alive(
    model: str, params: dict, x: np.ndarray, T: np.ndarray, horizon: float, discount_rate: float
) -> np.ndarray:
    """Expected purchases in (T, T+horizon] of a customer alive at T, discounted to T.

    Purchases are bucketed in ~monthly steps and discounted at the step's end, as in
    pymc-marketing's ``customer_lifetime_value``; with a zero rate this is exactly the
    expected number of purchases. Shape (draws, rows).
    """
    purchase = PURCHASE_MODELS[model]
    ordered = [params[k] for k in purchase.parameters]
    if discount_rate == 0:
        return purchase.expected_if_alive(*ordered, x=x, T=T, t=horizon)
    steps = np.unique(np.append(np.arange(DISCOUNT_STEP_DAYS, horizon, DISCOUNT_STEP_DAYS), horizon))
    total, previous = 0.0, 0.0
    for t in steps:
        cumulative = purchase.expected_if_alive(*ordered, x=x, T=T, t=t)
        total = total + (cumulative - previous) / (1.0 + discount_rate) ** (t / DAYS_PER_YEAR)
        previous = cumulative
    return total


# quantities of the purchase history alone, the same for customers who share (frequency,
# recency, T), and those that depend on the order value too
PER_HISTORY = (
    "p_alive", "expected_orders", "p_order", "p_multiple_orders", "purchase_probability", "churn_probability",
)
PER_ROW = ("expected_aov", "predicted_spend")
PER_DRAW = PER_HISTORY + PER_ROW


@dataclass(frozen=True)
class ChunkDraws:
    """Every quantity of :data:`PER_DRAW` under each posterior draw for one chunk of rows:
    those of :data:`PER_HISTORY` as (draws, histories) arrays over the chunk's distinct
    (frequency, recency, T) ``histories`` (3, histories), the others as (draws, rows);
    ``of_row`` is each row's history. A summary of a history quantity is computed per
    history and read per row through ``of_row``: rows with the same history share it."""

    per_history: dict[str, np.ndarray]
    per_row: dict[str, np.ndarray]
    histories: np.ndarray
    of_row: np.ndarray

    def history_weights(self, weights: np.ndarray) -> np.ndarray:
        """The rows' ``weights`` summed per history."""
        return np.bincount(self.of_row, weights=weights, minlength=self.histories.shape[1])


# account-wide per-draw sums over customers (each distinct row weighted by its count `n`)
ACCOUNT_DRAW_COLUMNS = ("expected_orders", "predicted_spend", "expected_aov", "p_order", "p_multiple_orders", "purchase_probability")


def aligned_draws(
    bg_draws: dict, gg_draws: dict, model: str = DEFAULT_PURCHASE_MODEL
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Purchase-model (``model``'s parameters) and Gamma-Gamma (p, q, v) draws cut to the
    same length.

    Draw i of one model is paired with draw i of the other: the fits are independent,
    so the pairs are draws from the joint posterior.
    """
    # any served model: a covariate model's coefficients are (draws, covariates), cut along the draws
    bg = {k: np.asarray(bg_draws[k], float) for k in SERVED_PURCHASE_MODELS[model].parameters}
    gg = {k: np.asarray(gg_draws[k], float) for k in GAMMA_GAMMA.parameters}
    n = min(len(next(iter(bg.values()))), len(next(iter(gg.values()))))
    return {k: v[:n] for k, v in bg.items()}, {k: v[:n] for k, v in gg.items()}


def map_chunks(
    rows: pd.DataFrame,
    bg: dict[str, np.ndarray],
    gg: dict[str, np.ndarray],
    settings: PredictionSettings,
    reduce: Callable[[pd.DataFrame, ChunkDraws], dict[str, np.ndarray] | tuple],
) -> tuple[np.ndarray, list]:
    """Apply ``reduce(chunk, draws)`` to each chunk of distinct rows.

    ``bg`` (purchase model ``settings.model``) and ``gg`` come from :func:`aligned_draws`;
    ``draws`` is the chunk's :class:`ChunkDraws`. The rows are taken in (frequency, T)
    order, so that a chunk's rows share (frequency, T) pairs; returns the rows' positions
    in that order (for :func:`in_row_order`) and the results in chunk order.
    """
    order = np.lexsort((rows["T"].to_numpy(), rows["frequency"].to_numpy()))
    # the SQL's order already is that order (sql/queries/customer_histories.sql): no copy
    ordered = rows if np.array_equal(order, np.arange(len(rows))) else rows.iloc[order]
    chunks = [ordered.iloc[i : i + settings.chunk_rows] for i in range(0, len(ordered), settings.chunk_rows)]
    # numpy releases the GIL in its kernels: threads use every core, and at most
    # `workers` chunks are in memory at once
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        parts = list(pool.map(lambda chunk: reduce(chunk, per_draw_quantities(chunk, bg, gg, settings)), chunks))
    return order, parts


def in_row_order(
    parts: list[dict[str, np.ndarray]], names, order: np.ndarray, index: pd.Index, dtype=float
) -> pd.DataFrame:
    """The columns ``names`` of the chunks' results (:func:`map_chunks`), back in the rows'
    own order (``index``), as one block of ``dtype``: no per-column copies at a million rows."""
    block = np.empty((len(names), len(order)), dtype)
    # the rows usually come in chunk order already (map_chunks): then no scatter
    in_order = np.array_equal(order, np.arange(len(order)))
    for row, name in zip(block, names):
        if in_order:
            np.concatenate([part[name] for part in parts], out=row)
        else:
            row[order] = np.concatenate([part[name] for part in parts])
    return pd.DataFrame(block.T, columns=list(names), index=index, copy=False)


def in_index_order(frames: list[pd.DataFrame], index: pd.Index) -> pd.DataFrame:
    """The groups' ``frames`` (:func:`base_model_groups`) as one frame in the order of
    ``index``; a single group already in that order as it is (no copy of a million rows)."""
    if len(frames) == 1 and frames[0].index.equals(index):
        return frames[0]
    return pd.concat(frames).loc[index]


INTERVAL_QUANTITIES = (
    "p_alive", "expected_orders", "p_order", "expected_aov", "predicted_spend", "churn_probability", "purchase_probability",
)


def predict_rows(
    rows: pd.DataFrame, bg_draws: dict[str, np.ndarray], gg_draws: dict[str, np.ndarray], settings: PredictionSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions for distinct rows with columns frequency, recency, T, monetary_value, n.

    Returns the rows with their predictions (posterior means, 90% intervals), and the
    account's per-draw totals: one row per posterior draw with the sums over customers
    (``n`` customers per row) of :data:`ACCOUNT_DRAW_COLUMNS`, whose quantiles are the
    intervals of account-wide figures such as the predicted revenue.
    """
    bg, gg = aligned_draws(bg_draws, gg_draws, settings.model)
    n_draws = len(next(iter(bg.values())))

    def summarize(chunk: pd.DataFrame, draws: ChunkDraws) -> tuple[dict, dict]:
        weights = chunk["n"].to_numpy(float) if "n" in chunk else np.ones(len(chunk))
        history_weights = draws.history_weights(weights)
        totals = {
            name: draws.per_history[name] @ history_weights if name in draws.per_history else draws.per_row[name] @ weights
            for name in ACCOUNT_DRAW_COLUMNS
        }
        out: dict[str, np.ndarray] = {"p_multiple_orders": draws.per_history["p_multiple_orders"].mean(axis=0)[draws.of_row]}
        p_order = draws.per_history["p_order"].mean(axis=0)
        out["days_to_next_order"] = _days_to_next_order(
            settings.model, bg, draws.histories, draws.per_history["p_alive"], p_order, float(settings.horizon_days)
        )[draws.of_row]
        # the draws' last use (the totals and the next order pair them across quantities):
        # each quantity's draws are sorted in place for its interval, after its mean
        for name in INTERVAL_QUANTITIES:
            per_history = name in draws.per_history
            values = draws.per_history[name] if per_history else draws.per_row[name]
            summary = {name: values.mean(axis=0)}
            summary[f"{name}_p05"], summary[f"{name}_p95"] = draw_quantiles(values, QUANTILES, overwrite=True)
            out.update({k: v[draws.of_row] for k, v in summary.items()} if per_history else summary)
        return out, totals

    order, parts = map_chunks(rows, bg, gg, settings, summarize)
    totals = pd.DataFrame(
        {
            name: np.sum([part[1][name] for part in parts], axis=0) if parts else np.zeros(n_draws)
            for name in ACCOUNT_DRAW_COLUMNS
        }
    )
    totals.insert(0, "draw", np.arange(n_draws))
    if not parts:
        return empty_predictions(rows)[0], totals
    result = in_row_order([part[0] for part in parts], PREDICTION_COLUMNS, order, rows.index)
    return pd.concat([rows, result], axis=1), totals


def draw_quantiles(per_draw: np.ndarray, quantiles, overwrite: bool = False) -> np.ndarray:
    """``np.quantile(per_draw, quantiles, axis=0)`` (linear interpolation) for a (draws, rows)
    array, from one sort of the draws: three times faster than np.quantile's selection
    along the strided axis, which dominated the prediction step at a million customers.
    With ``overwrite`` the draws are sorted in place (a caller done with their order saves
    the copy, a fifth of the sort's time)."""
    ordered = per_draw if overwrite else np.sort(per_draw, axis=0)
    if overwrite:
        ordered.sort(axis=0)
    position = np.asarray(quantiles, float) * (len(per_draw) - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, len(per_draw) - 1)
    weight = (position - below)[:, None]
    result = ordered[below] * (1.0 - weight) + ordered[above] * weight
    # np.quantile gives NaN for a row with any NaN draw; the sort puts NaN last
    return np.where(np.isnan(ordered[-1]), np.nan, result)


def empty_predictions(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames :func:`predict_rows` returns, with no rows (an account without a fit)."""
    empty = rows.iloc[:0].assign(**{name: pd.Series(dtype=float) for name in PREDICTION_COLUMNS})
    totals = pd.DataFrame({"draw": pd.Series(dtype=int), **{n: pd.Series(dtype=float) for n in ACCOUNT_DRAW_COLUMNS}})
    return empty, totals


def per_draw_quantities(chunk: pd.DataFrame, bg: dict, gg: dict, settings: PredictionSettings) -> ChunkDraws:
    """Each quantity of :data:`PER_DRAW` for each posterior draw, as a :class:`ChunkDraws`.

    What a customer alive at T will do depends only on (frequency, T), so it is computed
    once per distinct pair in the chunk; whether the customer is alive depends on
    (frequency, recency, T), so the purchase quantities are computed (and summarised) once
    per distinct triple (customers with the same history but different order values share
    them), and only the order value and the spend once per row.
    """
    horizon = float(settings.horizon_days)
    purchase = PURCHASE_MODELS[settings.model]
    x, t_x, T = (chunk[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    histories, of_row = unique_columns(np.stack([x, t_x, T]))
    pairs, of_history = unique_columns(histories[[0, 2]])
    future = purchase.future_if_alive(**bg, x=pairs[0], T=pairs[1], t=horizon)
    p_alive = purchase.p_alive(**bg, x=histories[0], t_x=histories[1], T=histories[2])
    # P(no order within `days` | alive), once per horizon in use (the same one is shared)
    no_order = {
        days: _p_none_within(purchase, bg, pairs, horizon, days, future)
        for days in {horizon, float(settings.purchase_horizon_days), float(settings.churn_horizon_days)}
    }
    # the compiled loop indexes every (draw, pair) without bounds checks: full-size views
    per_pair = lambda a: np.broadcast_to(a, (p_alive.shape[0], pairs.shape[1]))  # noqa: E731
    per_history = {name: p_alive if name == "p_alive" else np.empty_like(p_alive) for name in PER_HISTORY}
    _history_quantities(
        p_alive, of_history, per_pair(future["expected"]), per_pair(future["p_one"]), per_pair(no_order[horizon]),
        per_pair(no_order[float(settings.purchase_horizon_days)]), per_pair(no_order[float(settings.churn_horizon_days)]),
        per_history["expected_orders"], per_history["p_order"], per_history["p_multiple_orders"],
        per_history["purchase_probability"], per_history["churn_probability"],
    )
    aov = GAMMA_GAMMA.expected_spend(**gg, x=x, m=chunk["monetary_value"].to_numpy(float))
    if settings.discount_rate != 0:
        discounted = discounted_expected_if_alive(settings.model, bg, pairs[0], pairs[1], horizon, settings.discount_rate)
        spend = (p_alive * discounted[:, of_history])[:, of_row] * aov
    else:
        spend = np.empty_like(aov)
        _times_history(per_history["expected_orders"], of_row, aov, spend)
    return ChunkDraws(per_history, {"expected_aov": aov, "predicted_spend": spend}, histories, of_row)


@compiled
def _history_quantities(
    p_alive, of_history, expected, p_one, no_order, no_order_purchase, no_order_churn,
    expected_orders, p_order, p_multiple_orders, purchase_probability, churn_probability,
):
    """The :data:`PER_HISTORY` quantities from P(alive) of each history and what a customer
    alive at T does, per (frequency, T) pair (``of_history``: each history's pair), written
    into the last five (draws, histories) arrays in one pass (no full-size temporaries)."""
    for d in range(p_alive.shape[0]):
        for h in range(p_alive.shape[1]):
            j = of_history[h]
            alive = p_alive[d, h]
            expected_orders[d, h] = alive * expected[d, j]
            ordering = alive * (1.0 - no_order[d, j])
            p_order[d, h] = ordering
            p_multiple_orders[d, h] = ordering - alive * p_one[d, j]
            purchase_probability[d, h] = alive * (1.0 - no_order_purchase[d, j])
            churn_probability[d, h] = 1.0 - alive * (1.0 - no_order_churn[d, j])


@compiled
def _times_history(per_history, of_row, per_row, out):
    """``out = per_history[:, of_row] * per_row`` without the gathered copy."""
    for d in range(per_row.shape[0]):
        for i in range(per_row.shape[1]):
            out[d, i] = per_history[d, of_row[i]] * per_row[d, i]


def unique_columns(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, axis=1, return_inverse=True)`` of a (k, n) array without NaN: the
    distinct columns in lexicographic order and each column's index among them.

    One lexsort of the key rows: np.unique's sort of the columns as opaque records took a
    sixth of the prediction step at a million customers.
    """
    order = np.lexsort(keys[::-1])
    ordered = keys[:, order]
    starts = np.ones(keys.shape[1], bool)
    np.any(ordered[:, 1:] != ordered[:, :-1], axis=0, out=starts[1:])
    inverse = np.empty(keys.shape[1], np.intp)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[:, starts], inverse


def _p_none_within(purchase, bg: dict, pairs: np.ndarray, horizon: float, days: float, future: dict) -> np.ndarray:
    """P(no order within ``days``) of a customer alive at T, per distinct (frequency, T) pair."""
    if float(days) == horizon:
        return future["p_none"]
    return purchase.p_none_if_alive(**bg, x=pairs[0], T=pairs[1])(np.full((1, pairs.shape[1]), float(days)))


NEXT_ORDER_ROWS_PER_BLOCK = 512  # bounds the memory of the next-order search (draws x rows arrays)


def _days_to_next_order(
    model: str, params: dict, histories: np.ndarray, p_alive: np.ndarray, p_order: np.ndarray, horizon: float
) -> np.ndarray:
    """Days until a next order is more likely than not, per distinct history (``histories``
    (3, histories): frequency, recency, T; ``p_alive`` their (draws, histories) array,
    ``p_order`` their posterior-mean P(order within the horizon)); NaN beyond the horizon.

    Solved only for the histories whose probability of ordering within the horizon is at
    least 50%; the others are NaN by definition.
    """
    purchase = PURCHASE_MODELS[model]
    x, _, T = histories
    days = np.full(len(x), np.nan)
    solved = np.flatnonzero(p_order >= 0.5)
    for start in range(0, len(solved), NEXT_ORDER_ROWS_PER_BLOCK):
        block = solved[start : start + NEXT_ORDER_ROWS_PER_BLOCK]
        days[block] = time_to_next_purchase_quantile(
            p_alive[:, block], purchase.p_none_if_alive(**params, x=x[block], T=T[block]), q=0.5, horizon=horizon, tol=0.5
        )
    return days


def base_model_groups(rows: pd.DataFrame, draws: dict[str, np.ndarray], model: str) -> list[tuple[np.ndarray, str, dict]]:
    """The one place a purchase model's rows are split by the parameters they are scored at:
    ``(positions, base model, its parameter draws)`` per group of ``rows``.

    A model without covariates (``PURCHASE_MODELS``) is one group of every row at its own
    draws. A covariate model (``COVARIATE_PURCHASE_MODELS``; ``rows`` carry its covariate
    columns) is one group per distinct covariate vector, scored as its base model at that
    vector's parameter draws (``CovariatePurchaseModel.customer_parameters``; ``draws``
    flat, coefficients (draws, covariates), as ``lib/draws.py`` loads them). Every
    consumer that scores draws per customer (predictions, band confidence, backtest,
    audit) goes through here."""
    if model in PURCHASE_MODELS:
        return [(np.arange(len(rows)), model, draws)]
    spec = COVARIATE_PURCHASE_MODELS[model]
    Z = rows[list(spec.covariates)].to_numpy(float)
    levels, inverse = np.unique(Z, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [(np.flatnonzero(inverse == k), spec.base, spec.customer_parameters(draws, z)) for k, z in enumerate(levels)]


def predict(
    rows: pd.DataFrame, draws: dict[str, np.ndarray], gg_draws: dict[str, np.ndarray], settings: PredictionSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`predict_rows` for any served purchase model ``settings.model``, with or without
    covariates (:func:`base_model_groups`): per group, its base model's predictions at the
    group's parameter draws. The account's per-draw totals are the sums of the groups'
    totals (draw i is the same posterior draw in each)."""
    if settings.model in PURCHASE_MODELS:
        return predict_rows(rows, draws, gg_draws, settings)
    groups = base_model_groups(rows, draws, settings.model)
    if not groups:  # no rows: the empty frames, typed as predict_rows gives them
        spec = COVARIATE_PURCHASE_MODELS[settings.model]
        zero = spec.customer_parameters(draws, np.zeros(len(spec.covariates)))
        return predict_rows(rows, zero, gg_draws, replace(settings, model=spec.base))
    parts, totals = [], None
    for where, base, params in groups:
        part, part_totals = predict_rows(rows.iloc[where], params, gg_draws, replace(settings, model=base))
        parts.append(part)
        if totals is None:
            totals = part_totals
        else:
            totals[list(ACCOUNT_DRAW_COLUMNS)] += part_totals[list(ACCOUNT_DRAW_COLUMNS)].to_numpy()
    return in_index_order(parts, rows.index), totals


def predict_covariate_rows(
    rows: pd.DataFrame, draws: dict[str, np.ndarray], gg_draws: dict[str, np.ndarray], settings: PredictionSettings, model: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`predict` of the covariate model ``model`` on distinct (history, covariates,
    monetary_value) rows with counts ``n``."""
    return predict(rows, draws, gg_draws, replace(settings, model=model))
