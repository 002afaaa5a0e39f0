"""Posterior probability of each predicted band, from the posterior draws.

A customer's band is assigned in SQL (``sql/bands/customers.sql``) from the posterior
mean of the banded quantity. Under each posterior draw the same quantity falls in some
band; the share of draws that put the customer in band k is the posterior probability
of band k, and the one of the assigned band is its ``..._confidence``. Relative bands
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

PREDICTED_BANDS = {
    "predicted_spend_band": len(RELATIVE_LABELS),
    "predicted_aov_band": len(RELATIVE_LABELS),
    "order_likelihood_band": len(ORDER_LIKELIHOOD_LABELS),
    "spend_tier": len(SPEND_TIER_LABELS),
    "churn_band": len(PROBABILITY_LABELS),
    "purchase_probability_band": len(PROBABILITY_LABELS),
}


def band_shares(values: np.ndarray, cutoffs) -> np.ndarray:
    """Share of the draws (rows of ``values``, shape (draws, n)) in each band, shape (bands, n).

    A value's band is how many cut-offs lie strictly below it (bands are (lower, upper]),
    NaN is in the last band: ``np.searchsorted(cutoffs, values, side="left")``. Counted as
    the draws above each cut-off, one comparison per cut-off: at a million customers,
    building each draw's band index and comparing it with every band took three times
    as long.
    """
    values = np.asarray(values, float)
    cutoffs = np.sort(np.asarray(cutoffs, float))
    n_draws = len(values)
    above = np.zeros((len(cutoffs) + 2, values.shape[1]), np.int64)
    above[0] = n_draws
    for j, cutoff in enumerate(cutoffs, start=1):
        above[j] = np.count_nonzero(values > cutoff, axis=0)
    counts = above[:-1] - above[1:]
    if values.size and np.isnan(values.min()):
        missing = np.count_nonzero(np.isnan(values), axis=0)
        counts[0] -= missing
        counts[-1] += missing
    return counts / n_draws


def whole_percent(probability: np.ndarray) -> np.ndarray:
    """Probability in whole percent, halves rounded up (as SQL's floor(100 p + 0.5))."""
    return np.floor(100.0 * probability + 0.5)


def order_likelihood_shares(per_draw: dict[str, np.ndarray], thresholds: dict, means: dict[str, np.ndarray]) -> np.ndarray:
    """Shares of the draws in 0 'Unlikely to order', 1 'Likely to order', 2 'Likely to
    order multiple times' (the first that applies from 2 down), shape (3, n)."""
    p_order, p_multiple = per_draw["p_order"], per_draw["p_multiple_orders"]
    if thresholds["order_likelihood_basis"] == "relative":
        multiple = p_multiple >= thresholds["likely_to_order_multiple_ratio"] * means["p_multiple_orders"][:, None]
        likely = p_order >= thresholds["likely_to_order_ratio"] * means["p_order"][:, None]
    else:
        multiple = p_multiple >= thresholds["likely_to_order_multiple"]
        likely = p_order >= thresholds["likely_to_order"]
    n_draws = len(p_order)
    counts = np.empty((3, p_order.shape[1]), np.int64)
    counts[2] = np.count_nonzero(multiple, axis=0)
    counts[1] = np.count_nonzero(likely & ~multiple, axis=0)
    counts[0] = n_draws - counts[1] - counts[2]
    return counts / n_draws


def purchase_probability_shares(per_draw: dict[str, np.ndarray], thresholds: dict, means: dict[str, np.ndarray]) -> np.ndarray:
    p = per_draw["purchase_probability"]
    if thresholds["purchase_probability_basis"] == "relative":
        return band_shares(p / means["purchase_probability"][:, None], thresholds["purchase_probability_ratios"])
    return band_shares(whole_percent(p), thresholds["probability_cutoffs_pct"])


def band_probabilities(draws, thresholds: dict, means: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"<band>__<k>": P(band index = k)}`` per row, for every band of :data:`PREDICTED_BANDS`.

    ``draws`` is a chunk's ``predict.ChunkDraws``: the bands of history quantities (order
    likelihood, churn, purchase probability) are counted once per distinct history and
    read per row; ``means`` the account means under each draw, shape (draws,), of
    ``predicted_spend``, ``expected_aov``, ``p_order``, ``p_multiple_orders`` and
    ``purchase_probability``.
    """
    relative = thresholds["relative_cutoffs"]
    per_row, per_history = draws.per_row, draws.per_history
    of_row = {
        "predicted_spend_band": band_shares(per_row["predicted_spend"] / means["predicted_spend"][:, None], relative),
        "predicted_aov_band": band_shares(per_row["expected_aov"] / means["expected_aov"][:, None], relative),
        "spend_tier": band_shares(
            per_row["predicted_spend"],
            [thresholds["spend_tier_low_cutoff"], thresholds["spend_tier_high_cutoff"]],
        ),
    }
    of_history = {
        "order_likelihood_band": order_likelihood_shares(per_history, thresholds, means),
        "churn_band": band_shares(whole_percent(per_history["churn_probability"]), thresholds["probability_cutoffs_pct"]),
        "purchase_probability_band": purchase_probability_shares(per_history, thresholds, means),
    }
    shares = {**of_row, **{band: values[:, draws.of_row] for band, values in of_history.items()}}
    return {f"{band}__{k}": shares[band][k] for band, n_bands in PREDICTED_BANDS.items() for k in range(n_bands)}


def with_probability_columns(histories: pd.DataFrame, probabilities: pd.DataFrame | None) -> pd.DataFrame:
    """The distinct histories beside their band probabilities (the ``band_probabilities``
    input of ``sql/bands/customers.sql``); the columns exist, empty, without predictions."""
    keys = histories[["frequency", "recency", "T", "monetary_value"]]
    if probabilities is None:
        names = [f"{band}__{k}" for band, n in PREDICTED_BANDS.items() for k in range(n)]
        return keys.iloc[:0].assign(**{name: pd.Series(dtype=float) for name in names})
    return pd.concat([keys, probabilities], axis=1)
