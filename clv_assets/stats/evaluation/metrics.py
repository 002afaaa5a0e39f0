"""The scorecard of a holdout backtest: each model's predictions
(:mod:`~clv_assets.stats.evaluation.backtest`) against what the customers did.

- ``aggregate_error_pct``: (predicted - actual) / actual x 100 of the holdout repeat
  orders of the calibration cohort (customers whose first order is on or before the cutoff;
  every holdout order of theirs is a repeat order);
- ``mae_orders``: mean over customers of |E[holdout orders] - actual orders|;
- ``brier_p_order`` and the decile calibration: P(at least one holdout order) per
  customer, customers split into 10 equal groups by it, predicted mean vs observed share;
- ``auc_top_decile_spend``: AUC of predicted holdout spend (E[orders] x Gamma-Gamma
  expected order value) for telling the top 10% of actual holdout spenders from the rest,
  and ``gini_spend``, the normalised Gini of predicted spend against actual spend
  (1 = perfect ordering, 0 = random);
- ``interval_coverage``: share of customers whose holdout order count lies in their 90%
  equal-tailed posterior predictive interval. Counts are discrete, so the intervals hold
  at least 90% of the predictive mass; the mass they actually hold is
  ``interval_expected_coverage``, the figure the observed coverage should match;
- ``tracking_error_pct``: error of the cohort's cumulative repeat orders at the holdout end;
- ``auc_one_time_repeat``: among customers without a repeat order at the cutoff (frequency
  0), AUC of E[holdout orders] for telling who orders in the holdout ("which one-time
  buyers repeat"): without covariates a one-time buyer's prediction depends on their age
  alone, so this is where covariates of the first order can add ranking.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DECILES = 10
TOP_SHARE = 0.10


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); NaN with one class."""
    from scipy.stats import rankdata

    labels = labels.astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def one_time_repeat_auc(expected: np.ndarray, actual: np.ndarray, frequency: np.ndarray) -> float:
    """AUC of ``expected`` holdout orders for "orders in the holdout" among one-time buyers
    at the cutoff (``frequency`` 0); NaN when they all or none repeat."""
    once = frequency == 0
    return auc(expected[once], actual[once] >= 1)


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``predicted`` over the Gini of the perfect order."""

    def gini(order_by: np.ndarray) -> float:
        order = np.lexsort((np.arange(len(order_by)), -order_by))  # descending, stable
        cumulative = np.cumsum(actual[order]) / actual.sum()
        return float(cumulative.sum() / len(actual) - (len(actual) + 1) / (2 * len(actual)))

    if len(actual) == 0 or actual.sum() <= 0:
        return float("nan")
    return gini(predicted) / gini(actual)


def top_share_labels(actual: np.ndarray, share: float = TOP_SHARE) -> np.ndarray:
    """Customers at or above the (1 - share) quantile of actual spend who spent anything."""
    if len(actual) == 0:
        return np.zeros(0, bool)
    threshold = np.quantile(actual, 1 - share)
    return (actual >= threshold) & (actual > 0)


def calibration_deciles(p_order: np.ndarray, ordered: np.ndarray) -> pd.DataFrame:
    """Customers in 10 equal groups by predicted P(order) (1 = lowest): predicted vs observed."""
    order = np.argsort(p_order, kind="stable")
    groups = np.array_split(order, DECILES)
    return pd.DataFrame(
        {
            "decile": np.arange(1, DECILES + 1),
            "n_customers": [len(g) for g in groups],
            "predicted_p_order": [float(p_order[g].mean()) if len(g) else np.nan for g in groups],
            "observed_share": [float(ordered[g].mean()) if len(g) else np.nan for g in groups],
        }
    )


def score(summary: pd.DataFrame, customers: pd.DataFrame, aov: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """Scorecard figures and decile calibration for one model.

    ``summary`` is :func:`predictive_summary` per customer (aligned with ``customers``,
    which carries ``holdout_orders`` and ``holdout_spend``).
    """
    actual = customers["holdout_orders"].to_numpy(float)
    spend = customers["holdout_spend"].to_numpy(float)
    expected = summary["expected_orders"].to_numpy(float)
    p_order = summary["p_order"].to_numpy(float)
    ordered = (actual >= 1).astype(float)
    predicted_total, actual_total = float(expected.sum()), float(actual.sum())
    inside = (actual >= summary["lower"].to_numpy()) & (actual <= summary["upper"].to_numpy())
    predicted_spend = expected * np.nan_to_num(aov, nan=0.0)
    figures = {
        "n_customers": len(customers),
        "actual_repeat_orders": actual_total,
        "predicted_repeat_orders": predicted_total,
        "aggregate_error_pct": (predicted_total - actual_total) / actual_total * 100 if actual_total > 0 else float("nan"),
        "mae_orders": float(np.abs(expected - actual).mean()),
        "rmse_orders": float(np.sqrt(((expected - actual) ** 2).mean())),
        "brier_p_order": float(((p_order - ordered) ** 2).mean()),
        "observed_share_ordering": float(ordered.mean()),
        "auc_top_decile_spend": auc(predicted_spend, top_share_labels(spend)),
        "gini_spend": normalized_gini(spend, predicted_spend),
        "auc_one_time_repeat": one_time_repeat_auc(expected, actual, customers["frequency"].to_numpy(float)),
        "interval_coverage": float(inside.mean()),
        "interval_expected_coverage": float(summary["interval_mass"].mean()),
        "mean_interval_width": float((summary["upper"] - summary["lower"]).mean()),
    }
    return figures, calibration_deciles(p_order, ordered)


def tracking_error_pct(actual_cumulative: np.ndarray, predicted_cumulative: np.ndarray) -> float:
    """Error of the tracking curve's cumulative repeat orders at the holdout end, % (the
    figure Fader, Hardie & Lee 2005 report for CDNOW: BG/NBD about -4% at week 78)."""
    actual = float(actual_cumulative[-1]) if len(actual_cumulative) else 0.0
    return (float(predicted_cumulative[-1]) - actual) / actual * 100 if actual > 0 else float("nan")
