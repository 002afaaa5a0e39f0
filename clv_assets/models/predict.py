"""Per-customer predictions from BG/NBD and Gamma-Gamma posterior draws.

Quantities are computed once per distinct (frequency, recency, T, monetary_value) row,
over (thinned) posterior draws, ``chunk_rows`` rows at a time, so memory stays at
O(draws x chunk_rows) whatever the number of customers. Intervals are equal-tailed 90%
posterior intervals of each quantity.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clv_assets.models import posterior_math as pmath

QUANTILES = (0.05, 0.95)
DAYS_PER_YEAR = 365.0
DISCOUNT_STEP_DAYS = 30.0
PREDICTION_COLUMNS = [
    f"{name}{suffix}"
    for name in ("p_alive", "expected_orders", "p_order", "expected_aov", "predicted_spend")
    for suffix in ("", "_p05", "_p95")
] + ["p_multiple_orders", "churn_probability", "days_to_next_order"]


@dataclass(frozen=True)
class PredictionSettings:
    horizon_days: float = 365.0
    discount_rate: float = 0.0  # annual
    chunk_rows: int = 10_000
    workers: int = 2


def discounted_expected_if_alive(bg: dict, x: np.ndarray, T: np.ndarray, horizon: float, discount_rate: float) -> np.ndarray:
    """Expected purchases in (T, T+horizon] of a customer alive at T, discounted to T.

    Purchases are bucketed in ~monthly steps and discounted at the step's end, as in
    pymc-marketing's ``customer_lifetime_value``; with a zero rate this is exactly the
    expected number of purchases. Shape (draws, rows).
    """
    if discount_rate == 0:
        return pmath.bgnbd_future_if_alive(**bg, x=x, T=T, t=horizon)["expected"]
    steps = np.unique(np.append(np.arange(DISCOUNT_STEP_DAYS, horizon, DISCOUNT_STEP_DAYS), horizon))
    total, previous = 0.0, 0.0
    for t in steps:
        cumulative = pmath.bgnbd_future_if_alive(**bg, x=x, T=T, t=t)["expected"]
        total = total + (cumulative - previous) / (1.0 + discount_rate) ** (t / DAYS_PER_YEAR)
        previous = cumulative
    return total


def predict_rows(
    rows: pd.DataFrame, bg_draws: dict[str, np.ndarray], gg_draws: dict[str, np.ndarray], settings: PredictionSettings
) -> pd.DataFrame:
    """Predictions for distinct rows with columns frequency, recency, T, monetary_value.

    ``bg_draws`` holds r, alpha, a, b and ``gg_draws`` p, q, v, as equally long arrays of
    draws; draw i of one model is paired with draw i of the other (the fits are
    independent, so pairs are draws from the joint posterior). What a customer alive at
    T will do depends only on (frequency, T), so it is computed once per distinct pair
    in the chunk and combined with each row's P(alive).
    """
    bg = {k: np.asarray(bg_draws[k], float) for k in ("r", "alpha", "a", "b")}
    gg = {k: np.asarray(gg_draws[k], float) for k in ("p", "q", "v")}
    n = min(len(bg["r"]), len(gg["p"]))
    bg, gg = {k: v[:n] for k, v in bg.items()}, {k: v[:n] for k, v in gg.items()}
    ordered = rows.sort_values(["frequency", "T"], kind="stable")
    chunks = [ordered.iloc[i : i + settings.chunk_rows] for i in range(0, len(ordered), settings.chunk_rows)]
    # numpy releases the GIL in its kernels: threads use every core, and at most
    # `workers` chunks are in memory at once
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        parts = list(pool.map(lambda chunk: _predict_chunk(chunk, bg, gg, settings), chunks))
    if not parts:
        return rows.assign(**{name: pd.Series(dtype=float) for name in PREDICTION_COLUMNS})
    result = pd.DataFrame(
        {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}, index=ordered.index
    )
    return pd.concat([rows, result.loc[rows.index]], axis=1)


def _predict_chunk(chunk: pd.DataFrame, bg: dict, gg: dict, settings: PredictionSettings) -> dict[str, np.ndarray]:
    horizon = float(settings.horizon_days)
    out: dict[str, np.ndarray] = {}

    def keep(name: str, values: np.ndarray, interval: bool) -> None:
        out[name] = values.mean(axis=0)
        if interval:
            out[f"{name}_p05"], out[f"{name}_p95"] = np.quantile(values, QUANTILES, axis=0)

    x, t_x, T = (chunk[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    pairs, inverse = np.unique(np.stack([x, T]), axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    future = pmath.bgnbd_future_if_alive(**bg, x=pairs[0], T=pairs[1], t=horizon)
    p_alive = pmath.bgnbd_p_alive(**bg, x=x, t_x=t_x, T=T)
    keep("p_alive", p_alive, interval=True)
    expected = p_alive * future["expected"][:, inverse]
    keep("expected_orders", expected, interval=True)
    p_any = p_alive * (1.0 - future["p_none"][:, inverse])
    keep("p_order", p_any, interval=True)
    keep("p_multiple_orders", p_any - p_alive * future["p_one"][:, inverse], interval=False)
    keep("churn_probability", 1.0 - p_any, interval=False)
    aov = pmath.gamma_gamma_expected_spend(**gg, x=x, m=chunk["monetary_value"].to_numpy(float))
    keep("expected_aov", aov, interval=True)
    if settings.discount_rate != 0:
        discounted = discounted_expected_if_alive(bg, pairs[0], pairs[1], horizon, settings.discount_rate)
        expected = p_alive * discounted[:, inverse]
    keep("predicted_spend", expected * aov, interval=True)
    out["days_to_next_order"] = _days_to_next_order(bg, x, t_x, T, out["p_order"], horizon)
    return out


def _days_to_next_order(bg: dict, x, t_x, T, p_order: np.ndarray, horizon: float) -> np.ndarray:
    """Days until a next order is more likely than not; NaN beyond the horizon.

    Solved only for the rows whose probability of ordering within the horizon is at
    least 50%; the others are NaN by definition.
    """
    days = np.full(len(x), np.nan)
    reachable = p_order >= 0.5
    if reachable.any():
        days[reachable] = pmath.bgnbd_time_to_next_purchase_quantile(
            **bg, x=x[reachable], t_x=t_x[reachable], T=T[reachable], q=0.5, horizon=horizon, tol=0.5
        )
    return days
