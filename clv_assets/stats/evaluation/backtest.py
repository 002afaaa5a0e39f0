"""What each purchase model predicts for a holdout: the backtest window, per-customer
predictive summaries of the holdout orders and the cohort's tracking curve.

Calibration RFM is ``sql/features/rfm.sql`` run with ``as_of`` = cutoff. Every figure
comes from the posterior predictive quantities of the purchase models
(:mod:`clv_assets.stats.registry`); :mod:`~clv_assets.stats.evaluation.metrics` scores
them. The predictive interval of a customer's holdout order count is the 90%
equal-tailed posterior predictive interval, the 5% and 95% quantiles of P(X = n) averaged
over posterior draws (never a normal approximation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from clv_assets.stats.registry import GAMMA_GAMMA, PURCHASE_MODELS

INTERVAL = (0.05, 0.95)
MAX_ORDERS = 10_000  # guard of the predictive-interval search
PMF_BLOCK = 8  # first block of n of a model's prob_n_range (then doubling)


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


def covariate_predictive_summary(
    model: str, draws: Mapping[str, np.ndarray], rows: pd.DataFrame, t: float, chunk_rows: int = 64, workers: int = 2
) -> pd.DataFrame:
    """:func:`predictive_summary` of a covariate model (``COVARIATE_PURCHASE_MODELS``) on
    rows with history and covariate columns: per distinct covariate vector, its base
    model's summary at that vector's parameter draws (``predict.base_model_groups``)."""
    from clv_assets.stats.predict import base_model_groups

    parts, positions = [], []
    for where, base, params in base_model_groups(rows, draws, model):
        parts.append(predictive_summary(base, params, rows.iloc[where].reset_index(drop=True), t, chunk_rows, workers))
        positions.append(where)
    summary = pd.concat(parts, ignore_index=True)
    return summary.iloc[np.argsort(np.concatenate(positions), kind="stable")].reset_index(drop=True)


def covariate_tracking(model: str, draws: Mapping[str, np.ndarray], customers: pd.DataFrame, start: date, n_days: int) -> np.ndarray:
    """:func:`tracking` of a covariate model: each covariate vector's new customers by day
    (from ``customers``' ``first_order_date``) convolved with that vector's E[X(t)]."""
    from clv_assets.stats.predict import base_model_groups

    day = (pd.to_datetime(customers["first_order_date"]) - pd.Timestamp(start)).dt.days.to_numpy()
    days = np.arange(n_days, dtype=float)
    total = np.zeros(n_days)
    for where, base, params in base_model_groups(customers, draws, model):
        curve = PURCHASE_MODELS[base].expected_purchases(**params, x=0.0, t_x=0.0, T=0.0, t=days).mean(axis=0)
        new = np.bincount(day[where], minlength=n_days)[:n_days].astype(float)
        total += np.convolve(new, curve)[:n_days]
    return total
