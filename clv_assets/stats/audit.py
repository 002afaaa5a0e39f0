"""Earlier predictions against what happened: the sub-horizon prediction of a stored
snapshot and the predictive distribution of its totals.

A snapshot (the customers' histories at its as_of date and the posterior draws it was
predicted with) is scored over the ``days`` that have matured since its as_of date:

* the predicted means come from :func:`clv_assets.stats.predict.predict_rows` with the
  horizon set to ``days``: the same code path as the predictions themselves;
* the predictive interval of a total (orders, buyers, spend over a group of customers)
  needs both the parameter uncertainty and the randomness of each customer's purchases.
  For each of ``simulations`` samples (the posterior draws taken in turn), each customer's
  number of orders in the window is drawn from the model's own distribution of it
  (``PurchaseModel.pmf_range``: P(N = n | history, draw), which integrates the customer's
  individual rates given the history), and the spend of those orders from Gamma-Gamma
  (the customer's order-value scale given the history, then the sum of N order values).
  The quantiles of the simulated totals are the interval.

Orders here are transactions: one per customer and day (same-day orders merged), the
unit the models count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clv_assets.stats.predict import QUANTILES, PredictionSettings, aligned_draws, predict_rows, unique_columns
from clv_assets.stats.registry import PURCHASE_MODELS

HISTORY = ("frequency", "recency", "T", "monetary_value")
TOTALS = ("orders", "buyers", "spend")
PMF_TAIL = 1e-6  # the order counts' distribution is cut where less than this is left
MAX_ORDERS = 4096


@dataclass(frozen=True)
class AuditSettings:
    simulations: int = 400  # simulated totals behind each interval (draws taken in turn)
    chunk_customers: int = 2_000  # bounds memory: (simulations x chunk) arrays
    seed: int = 0


def sub_horizon_means(customers: pd.DataFrame, bg: dict, gg: dict, model: str, days: float) -> pd.DataFrame:
    """Per customer (``customers``' rows, with the :data:`HISTORY` columns): expected orders,
    P(at least one order) and expected spend within ``days`` of the as_of date, posterior
    means from :func:`predict_rows` on the distinct histories."""
    histories = customers.groupby(list(HISTORY), sort=False).size().rename("n").reset_index()
    settings = PredictionSettings(
        horizon_days=days, purchase_horizon_days=days, churn_horizon_days=days, model=model, workers=1
    )
    predicted, _ = predict_rows(histories, bg, gg, settings)
    means = customers[list(HISTORY)].merge(
        predicted[[*HISTORY, "expected_orders", "p_order", "predicted_spend"]], on=list(HISTORY), how="left"
    )
    return pd.DataFrame(
        {
            "orders": means["expected_orders"].to_numpy(),
            "buyers": means["p_order"].to_numpy(),
            "spend": means["predicted_spend"].to_numpy(),
        },
        index=customers.index,
    )


def simulated_totals(
    customers: pd.DataFrame, membership: np.ndarray, bg: dict, gg: dict, model: str, days: float, settings: AuditSettings
) -> dict[str, np.ndarray]:
    """Simulated totals of :data:`TOTALS` per group: (simulations, groups) arrays.

    ``membership`` (customers, groups) is 1 where a customer belongs to a group (a
    customer may be in several: segments overlap).
    """
    purchase = PURCHASE_MODELS[model]
    bg, gg = aligned_draws(bg, gg, model)
    n_draws = len(next(iter(bg.values())))
    pick = np.arange(settings.simulations) % n_draws
    p, q, v = (gg[k][pick][:, None] for k in ("p", "q", "v"))
    rng = np.random.default_rng(settings.seed)
    totals = {name: np.zeros((settings.simulations, membership.shape[1])) for name in TOTALS}
    for start in range(0, len(customers), settings.chunk_customers):
        chunk = customers.iloc[start : start + settings.chunk_customers]
        weights = membership[start : start + settings.chunk_customers]
        x, t_x, T, m = (chunk[c].to_numpy(float) for c in HISTORY)
        histories, of_row = unique_columns(np.stack([x, t_x, T]))
        # per posterior draw and distinct history, then per simulation and customer
        cdf = _order_count_cdf(purchase, bg, histories, float(days))[:, pick][:, :, of_row]
        u = rng.random((settings.simulations, len(chunk)))
        orders = (cdf < u[None]).sum(axis=0).astype(float)
        # the customer's order-value scale given the repeat orders' mean m, then the sum
        # of the window's order values (Gamma(p N, scale)); zero without an order
        scale = rng.gamma(p * x + q) / (v + x * m)
        spend = rng.gamma(p * orders) / scale
        totals["orders"] += orders @ weights
        totals["buyers"] += (orders > 0) @ weights
        totals["spend"] += spend @ weights
    return totals


def _order_count_cdf(purchase, bg: dict, histories: np.ndarray, days: float) -> np.ndarray:
    """P(N <= n) of the number of orders within ``days``, (n, draws, histories), for n up
    to where less than :data:`PMF_TAIL` is left (the rest taken as that last count)."""
    stop = 16
    while True:
        pmf = purchase.pmf_range(bg, histories[0], histories[1], histories[2], days, 0, stop)
        cdf = np.cumsum(np.nan_to_num(pmf), axis=0)
        if np.min(cdf[-1]) >= 1.0 - PMF_TAIL or stop >= MAX_ORDERS:
            cdf[-1] = 1.0
            return cdf
        stop *= 2


def interval(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The equal-tailed 90% interval over simulations (axis 0)."""
    low, high = np.quantile(values, QUANTILES, axis=0)
    return low, high


def calibration_bins(p_order: np.ndarray, ordered: np.ndarray, bins: int) -> pd.DataFrame:
    """Customers in ``bins`` equal-width bins of predicted P(order): count, mean predicted
    probability and observed share that ordered."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p_order, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": index, "p": p_order, "ordered": ordered.astype(float)})
    out = frame.groupby("bin").agg(customers=("p", "size"), predicted_rate=("p", "mean"), observed_rate=("ordered", "mean"))
    out = out.reset_index()
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
