"""Segment lift: what each segment's members did in the holdout against their comparison
group, with Poisson-bootstrap intervals (:func:`segment_lift`)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from clv_assets.stats.evaluation.backtest import INTERVAL

LIFT_BOOTSTRAP = 400  # Poisson-bootstrap replicates of the segment-lift intervals
LIFT_COLUMNS = (
    "members", "comparison_customers",
    "member_share_ordered", "member_mean_spend", "comparison_share_ordered", "comparison_mean_spend",
    "order_rate_lift", "order_rate_lift_p05", "order_rate_lift_p95",
    "spend_lift", "spend_lift_p05", "spend_lift_p95",
)


def segment_lift(groups: pd.DataFrame, holdout: pd.DataFrame, replicates: int = LIFT_BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """What each segment's members did in the holdout, against their comparison group.

    ``groups``: one row per customer and segment with ``member``, ``comparable`` (the
    segment's comparison group; members are taken out of it) and ``stratum``;
    ``holdout``: ``holdout_orders`` and ``holdout_spend`` per ``customer_id``. The
    comparison figures are averaged within each stratum and weighted by the members'
    share in it (direct standardisation; one stratum = the plain comparison). Lifts are
    member / comparison ratios of the share who ordered and of mean holdout spend; their
    90% intervals are percentiles of a Poisson bootstrap over customers (the same weights
    for members and comparison customers, resampled together).
    """
    outcome = holdout.set_index("customer_id")
    rng = np.random.default_rng(seed)
    rows = []
    for segment, g in groups.groupby("segment", sort=False):
        g = g.set_index("customer_id")
        ordered = (outcome["holdout_orders"].reindex(g.index).fillna(0) > 0).to_numpy(float)
        spend = outcome["holdout_spend"].reindex(g.index).fillna(0).to_numpy(float)
        member = g["member"].to_numpy(bool)
        comparison = g["comparable"].to_numpy(bool) & ~member
        strata = pd.factorize(g["stratum"].fillna(""))[0]
        keep = member | comparison
        weights = np.vstack([np.ones(keep.sum()), rng.poisson(1.0, size=(replicates, keep.sum()))])
        figures = _lift_figures(weights, member[keep], comparison[keep], strata[keep], ordered[keep], spend[keep])
        row = {"segment": segment, "members": int(member.sum()), "comparison_customers": int(comparison.sum())}
        for name, values in figures.items():
            row[name] = values[0]
            if name.endswith("lift"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    row[f"{name}_p05"], row[f"{name}_p95"] = np.nanquantile(values[1:], INTERVAL) if np.isfinite(values[1:]).any() else (np.nan, np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=["segment", *LIFT_COLUMNS])


def _lift_figures(w: np.ndarray, member: np.ndarray, comparison: np.ndarray, strata: np.ndarray, ordered: np.ndarray, spend: np.ndarray) -> dict:
    """The figures of :func:`segment_lift` under each row of customer weights ``w`` (replicates, customers)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        m_n = w @ member
        out = {"member_share_ordered": (w @ (member * ordered)) / m_n, "member_mean_spend": (w @ (member * spend)) / m_n}
        share = np.zeros(len(w))
        mean_spend = np.zeros(len(w))
        for s in np.unique(strata[member]) if member.any() else []:
            in_s = strata == s
            c_n = w @ (comparison & in_s)
            mix = (w @ (member & in_s)) / m_n
            share = share + mix * (w @ (comparison * in_s * ordered)) / c_n
            mean_spend = mean_spend + mix * (w @ (comparison * in_s * spend)) / c_n
        if not member.any():
            share = mean_spend = np.full(len(w), np.nan)
        out["comparison_share_ordered"], out["comparison_mean_spend"] = share, mean_spend
        out["order_rate_lift"] = out["member_share_ordered"] / share
        out["spend_lift"] = out["member_mean_spend"] / mean_spend
    return out
