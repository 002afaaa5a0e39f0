"""Holdout backtests of the purchase models: fit up to a cutoff, predict the holdout, compare.

Pure numpy/pandas on the frames the evaluation asset reads with the project's own SQL
(calibration RFM is ``sql/features/rfm.sql`` run with ``as_of`` = cutoff). Every figure
comes from the posterior predictive quantities of the purchase models
(:mod:`clv_assets.stats.registry`):

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
  equal-tailed posterior predictive interval, the 5% and 95% quantiles of
  P(X = n) averaged over posterior draws (never a normal approximation). Counts are
  discrete, so the intervals hold at least 90% of the predictive mass; the mass they
  actually hold is ``interval_expected_coverage``, the figure the observed coverage
  should match.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from clv_assets.stats.registry import DEFAULT_PURCHASE_MODEL, GAMMA_GAMMA, PURCHASE_MODELS

CANDIDATES = tuple(PURCHASE_MODELS)
DEFAULT_MODEL = DEFAULT_PURCHASE_MODEL
INTERVAL = (0.05, 0.95)
DECILES = 10
TOP_SHARE = 0.10
MAX_ORDERS = 10_000  # guard of the predictive-interval search
PMF_BLOCK = 8  # first block of n of a model's prob_n_range (then doubling)
# Model choice: lowest per-customer MAE of holdout orders; candidates within this
# relative distance of the best MAE count as tied and the smallest |aggregate error| wins.
CHOICE_SCORE = "mae_orders"
CHOICE_TIE_TOLERANCE = 0.005


@dataclass(frozen=True)
class Window:
    """Calibration [start, cutoff] and holdout (cutoff, holdout_end], whole days."""

    start: date
    cutoff: date
    holdout_end: date

    @property
    def holdout_days(self) -> int:
        return (self.holdout_end - self.cutoff).days

    @property
    def total_days(self) -> int:
        return (self.holdout_end - self.start).days


def backtest_window(
    first_date: date,
    last_date: date,
    cutoff: date | None = None,
    holdout_end: date | None = None,
    holdout_fraction: float = 1 / 3,
) -> Window:
    """The backtest window of an account observed from ``first_date`` to ``last_date``.

    Default: the holdout is the last ``holdout_fraction`` of the observed window and ends
    at the last transaction. Raises ValueError (one line) when the window is empty.
    """
    end = holdout_end or last_date
    if cutoff is None:
        if not 0 < holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
        cutoff = first_date + timedelta(days=math.floor((end - first_date).days * (1 - holdout_fraction)))
    if cutoff < first_date:
        raise ValueError(f"cutoff {cutoff} is before the account's first transaction {first_date}")
    if end <= cutoff:
        raise ValueError(f"holdout end {end} is not after the cutoff {cutoff}: no holdout to evaluate")
    return Window(first_date, cutoff, end)


def distinct_histories(customers: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Distinct (frequency, recency, T) rows with counts ``n``, and each customer's row index."""
    keys = customers[["frequency", "recency", "T"]].to_numpy(float)
    rows, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "T"]).assign(n=counts)
    return frame, inverse.reshape(-1)


def predictive_summary(
    model: str, draws: Mapping[str, np.ndarray], rows: pd.DataFrame, t: float, chunk_rows: int = 64, workers: int = 2
) -> pd.DataFrame:
    """Per history row: E[X], P(X >= 1) and the 90% predictive interval of X over ``t`` days.

    X is the number of orders in (T, T + t]. The predictive distribution is
    P(X = n) = mean over draws of P(X = n | history, draw); the interval is its 5% and
    95% quantiles, ``interval_mass`` the probability inside it. Chunks of ``chunk_rows``
    rows run on ``workers`` threads (numpy and scipy release the GIL in their kernels).
    """
    from concurrent.futures import ThreadPoolExecutor

    purchase = PURCHASE_MODELS[model]
    params = {k: np.asarray(draws[k], float) for k in purchase.parameters}
    chunks = [rows.iloc[start : start + chunk_rows] for start in range(0, len(rows), chunk_rows)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        parts = list(pool.map(lambda chunk: _chunk_summary(model, params, chunk, t), chunks))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["expected_orders", "p_order", "lower", "upper", "interval_mass"])


def _chunk_summary(model: str, params: dict[str, np.ndarray], chunk: pd.DataFrame, t: float) -> pd.DataFrame:
    """:func:`predictive_summary` of one chunk of rows."""
    purchase = PURCHASE_MODELS[model]
    hist = {"x": chunk["frequency"].to_numpy(float), "t_x": chunk["recency"].to_numpy(float), "T": chunk["T"].to_numpy(float)}
    expected = purchase.expected_purchases(**params, **hist, t=t).mean(axis=0)
    lower = np.full(len(chunk), -1)
    upper = np.full(len(chunk), -1)
    cdf = np.zeros(len(chunk))
    pmf = []
    n = 0
    block, block_rows, block_start = np.zeros((0, 0)), np.zeros(len(chunk), bool), 0
    while (upper < 0).any():
        if n > MAX_ORDERS:
            raise ValueError(f"{model}: predictive distribution does not reach 95% within {MAX_ORDERS} orders")
        # only rows whose 95% quantile is not reached yet: most stop after n = 1 or 2
        pending = upper < 0
        pending_hist = {k: v[pending] for k, v in hist.items()}
        p = np.zeros(len(chunk))
        # a block of n at a time: most models share work between successive n
        if n >= block_start + len(block):
            block_rows, block_start = pending, n
            block = purchase.pmf_range(params, **pending_hist, t=t, n_start=n, n_stop=n + max(n, PMF_BLOCK)).mean(axis=1)
        p[pending] = block[n - block_start][pending[block_rows]]
        pmf.append(p)
        cdf = cdf + p
        lower = np.where((lower < 0) & (cdf >= INTERVAL[0]), n, lower)
        upper = np.where((upper < 0) & (cdf >= INTERVAL[1] - 1e-12), n, upper)
        n += 1
    pmf = np.stack(pmf)  # (n, rows)
    ns = np.arange(len(pmf))[:, None]
    mass = np.where((ns >= lower) & (ns <= upper), pmf, 0.0).sum(axis=0)
    return pd.DataFrame({"expected_orders": expected, "p_order": 1.0 - pmf[0], "lower": lower, "upper": upper, "interval_mass": mass})


def expected_order_value(gg_draws: Mapping[str, np.ndarray] | None, customers: pd.DataFrame) -> np.ndarray:
    """Posterior mean Gamma-Gamma expected order value per customer (NaN without a spend fit)."""
    if gg_draws is None:
        return np.full(len(customers), np.nan)
    keys = customers[["frequency", "monetary_value"]].to_numpy(float)
    rows, inverse = np.unique(keys, axis=0, return_inverse=True)
    aov = GAMMA_GAMMA.expected_spend(**{k: gg_draws[k] for k in GAMMA_GAMMA.parameters}, x=rows[:, 0], m=rows[:, 1])
    return np.nanmean(aov, axis=0)[inverse.reshape(-1)]


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); NaN with one class."""
    from scipy.stats import rankdata

    labels = labels.astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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
        "interval_coverage": float(inside.mean()),
        "interval_expected_coverage": float(summary["interval_mass"].mean()),
        "mean_interval_width": float((summary["upper"] - summary["lower"]).mean()),
    }
    return figures, calibration_deciles(p_order, ordered)


def expected_new_customer(model: str, draws: Mapping[str, np.ndarray], days: np.ndarray) -> np.ndarray:
    """Posterior mean E[repeat orders in (0, t]] of a customer just acquired, for each t in ``days``."""
    purchase = PURCHASE_MODELS[model]
    params = {k: np.asarray(draws[k], float) for k in purchase.parameters}
    return purchase.expected_purchases(**params, x=0.0, t_x=0.0, T=0.0, t=np.asarray(days, float)).mean(axis=0)


def tracking(model: str, draws: Mapping[str, np.ndarray], daily: pd.DataFrame) -> np.ndarray:
    """Predicted cumulative repeat orders of the cohort by day (the classic tracking curve).

    ``daily`` has one row per day from the window start (``day`` 0, 1, ...) with
    ``new_customers`` (first orders of the cohort that day). Each cohort member acquired
    on day f contributes E[X(d - f)] by day d: a convolution.
    """
    days = np.arange(len(daily))
    curve = expected_new_customer(model, draws, days)
    return np.convolve(daily["new_customers"].to_numpy(float), curve)[: len(daily)]


def tracking_error_pct(actual_cumulative: np.ndarray, predicted_cumulative: np.ndarray) -> float:
    """Error of the tracking curve's cumulative repeat orders at the holdout end, % (the
    figure Fader, Hardie & Lee 2005 report for CDNOW: BG/NBD about -4% at week 78)."""
    actual = float(actual_cumulative[-1]) if len(actual_cumulative) else 0.0
    return (float(predicted_cumulative[-1]) - actual) / actual * 100 if actual > 0 else float("nan")


def choose_model(scores: pd.DataFrame) -> dict:
    """The best candidate by holdout score: the model an account with ``model: auto`` uses.

    Score: lowest ``mae_orders`` (per-customer mean absolute error of holdout orders);
    candidates within 0.5% of the best MAE are tied and the smallest |aggregate error|
    among them wins.
    """
    compared = ", ".join(f"{r.model} {CHOICE_SCORE}={r.mae_orders:.4f} aggregate_error={r.aggregate_error_pct:+.2f}%" for r in scores.itertuples())
    best = scores[CHOICE_SCORE].min()
    tied = scores[scores[CHOICE_SCORE] <= best * (1 + CHOICE_TIE_TOLERANCE)]
    winner = tied.loc[tied["aggregate_error_pct"].abs().idxmin()] if len(tied) > 1 else tied.iloc[0]
    others = scores[scores.model != winner.model]
    if len(tied) > 1:
        reason = (
            f"{', '.join(tied.model)} tied on {CHOICE_SCORE} (within {CHOICE_TIE_TOLERANCE:.1%} of {best:.4f}); "
            f"{winner.model} has the smallest |aggregate error| ({winner.aggregate_error_pct:+.2f}%)"
        )
    else:
        runner = others.sort_values(CHOICE_SCORE).iloc[0] if len(others) else None
        reason = f"lowest {CHOICE_SCORE} {winner[CHOICE_SCORE]:.4f}" + (
            f" vs {runner.model} {runner[CHOICE_SCORE]:.4f}" if runner is not None else ""
        )
    return {
        "chosen_model": winner.model,
        "score_name": CHOICE_SCORE,
        "score": float(winner[CHOICE_SCORE]),
        "reason": reason,
        "candidates_compared": compared,
    }


# --------------------------------------------------------------------------- #
# plots (PNG bytes; the asset shows them with plots.markdown_image)
# --------------------------------------------------------------------------- #
def tracking_plot(track: pd.DataFrame, window: Window) -> bytes:
    """Cumulative repeat orders by day, actual and per model, with the cutoff marked."""
    from matplotlib.figure import Figure

    from clv_assets.stats.plots import figure_png  # matplotlib loads only when plotting

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    first = track[track.model == track.model.iloc[0]]
    ax.plot(first["day_date"], first["actual_cumulative"], color="black", lw=2, label="actual")
    for model, group in track.groupby("model", sort=False):
        ax.plot(group["day_date"], group["predicted_cumulative"], ls="--", label=PURCHASE_MODELS[model].label)
    ax.axvline(pd.Timestamp(window.cutoff), color="grey", ls=":", label="cutoff")
    ax.set_ylabel("cumulative repeat orders")
    ax.set_title("Tracking: calibration and holdout")
    ax.legend()
    return figure_png(fig)


def calibration_plot(deciles: pd.DataFrame) -> bytes:
    """Predicted P(order) vs observed share of customers who ordered, by decile and model."""
    from matplotlib.figure import Figure

    from clv_assets.stats.plots import figure_png

    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    for model, group in deciles.groupby("model", sort=False):
        ax.plot(group["predicted_p_order"], group["observed_share"], marker="o", label=PURCHASE_MODELS[model].label)
    ax.set_xlabel("predicted P(at least one holdout order)")
    ax.set_ylabel("observed share who ordered")
    ax.set_title("Calibration by decile")
    ax.legend()
    return figure_png(fig)


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
