"""Posterior probability of each predicted band, from the posterior draws.

A customer's band is assigned in SQL (``sql/bands/customers.sql``) from the posterior
mean of the banded quantity. Under each posterior draw the same quantity falls in some
band; the share of draws that put the customer in band k is the posterior probability
of band k, and the one of the assigned band is its ``..._confidence``. This module
counts the draws in each band, in the smallest unsigned integer that holds the number
of draws (two bytes where a share in float64 took eight: the band step's largest arrays
at ten million customers); the SQL divides the count of the assigned band by the number
of draws, the same IEEE division as ``counts / n_draws``. Relative bands
compare with the account mean *of the same draw* (an account-wide shift moves the mean
with the customer), and so do the relative order-likelihood and purchase-probability
bands; the spend-tier cut-offs are the account percentiles of posterior-mean predicted
spend, held fixed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clv_assets.stats.bands import (
    ORDER_LIKELIHOOD_LABELS,
    PROBABILITY_LABELS,
    RELATIVE_LABELS,
    SPEND_TIER_LABELS,
)
from clv_assets.stats.numerics import compiled

PREDICTED_BANDS = {
    "predicted_spend_band": len(RELATIVE_LABELS),
    "predicted_aov_band": len(RELATIVE_LABELS),
    "order_likelihood_band": len(ORDER_LIKELIHOOD_LABELS),
    "spend_tier": len(SPEND_TIER_LABELS),
    "churn_band": len(PROBABILITY_LABELS),
    "purchase_probability_band": len(PROBABILITY_LABELS),
}


def count_dtype(n_draws: int) -> np.dtype:
    """The smallest unsigned integer type that holds a count of ``n_draws`` draws."""
    return np.dtype(np.uint16 if n_draws <= np.iinfo(np.uint16).max else np.uint32)


def band_counts(values: np.ndarray, cutoffs, per_draw_scale: np.ndarray | None = None, percent: bool = False) -> np.ndarray:
    """Number of the draws (rows of ``values``, shape (draws, n)) in each band, shape
    (bands, n), of :func:`count_dtype`.

    A value's band is how many cut-offs lie strictly below it (bands are (lower, upper]),
    NaN is in the last band: ``np.searchsorted(cutoffs, values, side="left")``. The value
    compared is ``values / per_draw_scale[:, None]`` when a scale is given (a draw's
    account mean), then in whole percent (:func:`whole_percent`) with ``percent``: the
    same IEEE operations as those numpy expressions, inside one compiled pass that counts
    each value's band, where numpy built the scaled array and then compared all of it
    once per cut-off (the band step's largest cost after the draws themselves).
    """
    values = np.asarray(values, float)
    cutoffs = np.sort(np.asarray(cutoffs, float))
    scale = np.ones(len(values)) if per_draw_scale is None else np.asarray(per_draw_scale, float)
    counts = np.zeros((len(cutoffs) + 1, values.shape[1]), count_dtype(len(values)))
    _count_bands(values, scale, bool(percent), cutoffs, counts)
    return counts


@compiled
def _count_bands(values, scale, percent, cutoffs, counts):
    """``counts[k, j]`` = the draws ``d`` whose value (``values[d, j] / scale[d]``, in whole
    percent with ``percent``) has ``k`` cut-offs strictly below it (NaN: all of them)."""
    n_cutoffs = cutoffs.shape[0]
    for d in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[d, j] / scale[d]
            if percent:
                v = np.floor(100.0 * v + 0.5)
            k = n_cutoffs
            if v == v:
                k = 0
                while k < n_cutoffs and cutoffs[k] < v:
                    k += 1
            counts[k, j] += 1


def whole_percent(probability: np.ndarray) -> np.ndarray:
    """Probability in whole percent, halves rounded up (as SQL's floor(100 p + 0.5))."""
    return np.floor(100.0 * probability + 0.5)


def order_likelihood_counts(per_draw: dict[str, np.ndarray], thresholds: dict, means: dict[str, np.ndarray]) -> np.ndarray:
    """Number of the draws in 0 'Unlikely to order', 1 'Likely to order', 2 'Likely to
    order multiple times' (the first that applies from 2 down), shape (3, n)."""
    p_order, p_multiple = per_draw["p_order"], per_draw["p_multiple_orders"]
    if thresholds["order_likelihood_basis"] == "relative":
        multiple = p_multiple >= thresholds["likely_to_order_multiple_ratio"] * means["p_multiple_orders"][:, None]
        likely = p_order >= thresholds["likely_to_order_ratio"] * means["p_order"][:, None]
    else:
        multiple = p_multiple >= thresholds["likely_to_order_multiple"]
        likely = p_order >= thresholds["likely_to_order"]
    n_draws = len(p_order)
    counts = np.empty((3, p_order.shape[1]), count_dtype(n_draws))
    counts[2] = np.count_nonzero(multiple, axis=0)
    counts[1] = np.count_nonzero(likely & ~multiple, axis=0)
    counts[0] = n_draws - counts[1] - counts[2]
    return counts


def purchase_probability_counts(per_draw: dict[str, np.ndarray], thresholds: dict, means: dict[str, np.ndarray]) -> np.ndarray:
    p = per_draw["purchase_probability"]
    if thresholds["purchase_probability_basis"] == "relative":
        return band_counts(p, thresholds["purchase_probability_ratios"], means["purchase_probability"])
    return band_counts(p, thresholds["probability_cutoffs_pct"], percent=True)


def band_draw_counts(draws, thresholds: dict, means: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"<band>__<k>": number of draws with band index k}`` per row, for every band of
    :data:`PREDICTED_BANDS` (P(band index = k) times the number of draws).

    ``draws`` is a chunk's ``predict.ChunkDraws``: the bands of history quantities (order
    likelihood, churn, purchase probability) are counted once per distinct history and
    read per row; ``means`` the account means under each draw, shape (draws,), of
    ``predicted_spend``, ``expected_aov``, ``p_order``, ``p_multiple_orders`` and
    ``purchase_probability``.
    """
    relative = thresholds["relative_cutoffs"]
    per_row, per_history = draws.per_row, draws.per_history
    of_row = {
        "predicted_spend_band": band_counts(per_row["predicted_spend"], relative, means["predicted_spend"]),
        "predicted_aov_band": band_counts(per_row["expected_aov"], relative, means["expected_aov"]),
        "spend_tier": band_counts(
            per_row["predicted_spend"],
            [thresholds["spend_tier_low_cutoff"], thresholds["spend_tier_high_cutoff"]],
        ),
    }
    of_history = {
        "order_likelihood_band": order_likelihood_counts(per_history, thresholds, means),
        "churn_band": band_counts(per_history["churn_probability"], thresholds["probability_cutoffs_pct"], percent=True),
        "purchase_probability_band": purchase_probability_counts(per_history, thresholds, means),
    }
    counts = {**of_row, **{band: values[:, draws.of_row] for band, values in of_history.items()}}
    return {f"{band}__{k}": counts[band][k] for band, n_bands in PREDICTED_BANDS.items() for k in range(n_bands)}


def with_count_columns(histories: pd.DataFrame, counts: pd.DataFrame | None) -> pd.DataFrame:
    """The distinct histories beside their band draw counts (the ``band_draw_counts``
    input of ``sql/bands/customers.sql``); the columns exist, empty, without predictions."""
    keys = histories[["frequency", "recency", "T", "monetary_value"]]
    if counts is None:
        names = [f"{band}__{k}" for band, n in PREDICTED_BANDS.items() for k in range(n)]
        return keys.iloc[:0].assign(**{name: pd.Series(dtype=count_dtype(0)) for name in names})
    return pd.concat([keys, counts], axis=1)
