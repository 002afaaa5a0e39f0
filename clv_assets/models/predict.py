"""Per-customer predictions from BG/NBD and Gamma-Gamma posterior draws.

Quantities are computed once per distinct (frequency, recency, T, monetary_value) row,
over (thinned) posterior draws, ``chunk_rows`` rows at a time, so memory stays at
O(draws x chunk_rows) whatever the number of customers. Intervals are equal-tailed 90%
posterior intervals of each quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clv_assets.models import posterior_math as pmath

QUANTILES = (0.05, 0.95)
DAYS_PER_YEAR = 365.0
DISCOUNT_STEP_DAYS = 30.0


@dataclass(frozen=True)
class PredictionSettings:
    horizon_days: float = 365.0
    discount_rate: float = 0.0  # annual
    chunk_rows: int = 10_000


def discounted_expected_purchases(bg: dict, rows: dict, horizon: float, discount_rate: float) -> np.ndarray:
    """Expected purchases in (T, T+horizon], each discounted to T; shape (draws, rows).

    Purchases are bucketed in ~monthly steps and discounted at the step's end, as in
    pymc-marketing's ``customer_lifetime_value``; with a zero rate this is exactly the
    expected number of purchases.
    """
    if discount_rate == 0:
        return pmath.bgnbd_expected_purchases(**bg, **rows, t=horizon)
    steps = np.unique(np.append(np.arange(DISCOUNT_STEP_DAYS, horizon, DISCOUNT_STEP_DAYS), horizon))
    total, previous = 0.0, 0.0
    for t in steps:
        cumulative = pmath.bgnbd_expected_purchases(**bg, **rows, t=t)
        total = total + (cumulative - previous) / (1.0 + discount_rate) ** (t / DAYS_PER_YEAR)
        previous = cumulative
    return total


def predict_rows(
    rows: pd.DataFrame, bg_draws: dict[str, np.ndarray], gg_draws: dict[str, np.ndarray], settings: PredictionSettings
) -> pd.DataFrame:
    """Predictions for distinct rows with columns frequency, recency, T, monetary_value.

    ``bg_draws`` holds r, alpha, a, b and ``gg_draws`` p, q, v, as equally long arrays of
    draws; draw i of one model is paired with draw i of the other (the fits are
    independent, so pairs are draws from the joint posterior).
    """
    bg = {k: np.asarray(bg_draws[k], float) for k in ("r", "alpha", "a", "b")}
    gg = {k: np.asarray(gg_draws[k], float) for k in ("p", "q", "v")}
    n = min(len(bg["r"]), len(gg["p"]))
    bg, gg = {k: v[:n] for k, v in bg.items()}, {k: v[:n] for k, v in gg.items()}
    horizon = float(settings.horizon_days)
    out: dict[str, list[np.ndarray]] = {}

    def keep(name: str, values: np.ndarray, interval: bool) -> None:
        out.setdefault(name, []).append(values.mean(axis=0))
        if interval:
            low, high = np.quantile(values, QUANTILES, axis=0)
            out.setdefault(f"{name}_p05", []).append(low)
            out.setdefault(f"{name}_p95", []).append(high)

    for start in range(0, len(rows), settings.chunk_rows):
        chunk = rows.iloc[start : start + settings.chunk_rows]
        history = {
            "x": chunk["frequency"].to_numpy(float),
            "t_x": chunk["recency"].to_numpy(float),
            "T": chunk["T"].to_numpy(float),
        }
        keep("p_alive", pmath.bgnbd_p_alive(**bg, **history), interval=True)
        expected = pmath.bgnbd_expected_purchases(**bg, **history, t=horizon)
        keep("expected_orders", expected, interval=True)
        p_none = pmath.bgnbd_prob_n_purchases(**bg, **history, t=horizon, n=0)
        p_one = pmath.bgnbd_prob_n_purchases(**bg, **history, t=horizon, n=1)
        keep("p_order", 1.0 - p_none, interval=True)
        keep("p_multiple_orders", 1.0 - p_none - p_one, interval=False)
        keep("churn_probability", p_none, interval=False)
        aov = pmath.gamma_gamma_expected_spend(
            **gg, x=history["x"], m=chunk["monetary_value"].to_numpy(float)
        )
        keep("expected_aov", aov, interval=True)
        orders = expected if settings.discount_rate == 0 else discounted_expected_purchases(
            bg, history, horizon, settings.discount_rate
        )
        keep("predicted_spend", orders * aov, interval=True)
        out.setdefault("days_to_next_order", []).append(
            pmath.bgnbd_time_to_next_purchase_quantile(**bg, **history, q=0.5, horizon=horizon, tol=0.5)
        )
    result = pd.DataFrame({name: np.concatenate(parts) for name, parts in out.items()}, index=rows.index)
    return pd.concat([rows, result], axis=1)
