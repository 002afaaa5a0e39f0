"""Diagnostic plots of a fit, as PNG bytes for the asset's materialisation metadata.

Pure numpy and matplotlib (``Figure`` objects, no pyplot: no global state, no display
needed). The quantities come from the models' own posterior quantities
(:mod:`clv_assets.stats.registry`), so a plot shows exactly what the predictions compute.

* :func:`posterior_png`: posterior density of every parameter, one line per chain
  (chains that disagree show as curves that do not overlap);
* :func:`p_alive_matrix` / :func:`p_alive_png`: posterior-mean P(alive) by frequency and
  recency for the oldest customer age T (Fader, Hardie & Lee 2005, figure 5);
* :func:`repeat_order_counts` / :func:`repeat_orders_png`: the number of customers with
  0, 1, 2, ... repeat orders in their observation period, actual vs expected by the
  model (the calibration fit of Fader, Hardie & Lee 2005, figure 2);
* :func:`fit_images`: all of the above for one fit, as the fit assets show them;
* of a holdout backtest (:mod:`clv_assets.stats.evaluation`): :func:`tracking_plot`, the
  cohort's cumulative repeat orders, actual and per model, and :func:`calibration_plot`,
  predicted P(order) against the observed share by decile and model.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clv_assets.stats.numerics import thin
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, DEFAULT_PURCHASE_MODEL, PURCHASE_MODELS

if TYPE_CHECKING:  # the backtest window only annotates the tracking plot
    from clv_assets.stats.evaluation.backtest import Window

PLOT_DRAWS = 200  # posterior draws behind the P(alive) and repeat-order plots
DPI = 80
MAX_PLOTTED_FREQUENCY = 50  # rows of the P(alive) matrix plot


def markdown_image(png: bytes, title: str) -> str:
    """Markdown embedding ``png`` as a data URI (the Dagster UI renders it inline)."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def fit_images(
    model: str, draws: Mapping[str, np.ndarray], parameters: Sequence[str], title: str, rows: pd.DataFrame | None
) -> tuple[dict[str, tuple[bytes, str]], pd.DataFrame | None]:
    """The plots of one fit of ``model`` as ``{name: (png, alt text)}``, and the repeat-order
    counts behind one of them (None for a spend model).

    Every fit: the posterior of each of ``parameters`` by chain. A purchase model also: the
    P(alive) matrix (frequency x recency at the oldest customer's age) and the number of
    customers by repeat orders, actual vs expected (``rows``: the fit's distinct
    ``frequency`` and ``T`` with their count ``n``; unused for a spend model).
    """
    images = {"posterior_plot": (posterior_png(draws, parameters, title), title)}
    if model not in PURCHASE_MODELS:
        return images, None
    age = float(rows["T"].max())
    frequency, recency, matrix = p_alive_matrix(draws, min(int(rows["frequency"].max()), MAX_PLOTTED_FREQUENCY), age, model)
    counts = repeat_order_counts(draws, rows, model)
    images["p_alive_matrix"] = (p_alive_png(frequency, recency, matrix, age), "P(alive)")
    images["repeat_orders_plot"] = (repeat_orders_png(counts), "repeat orders, actual vs expected")
    return images, counts


def posterior_png(draws: Mapping[str, np.ndarray], parameters: Sequence[str], title: str) -> bytes:
    """Density of each parameter's draws (shape (chains, draws)), one line per chain."""
    fig = Figure(figsize=(3.2 * len(parameters), 2.8))
    # fixed margins: matplotlib's constrained layout solver costs more than the drawing
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.12, top=0.78, wspace=0.1)
    for ax, name in zip(fig.subplots(1, len(parameters), squeeze=False)[0], parameters, strict=True):
        values = np.asarray(draws[name], dtype=float)
        if values.size == 1:  # a point estimate (MAP): no distribution to show
            ax.axvline(values.item(), color="C0")
        else:
            bins = np.histogram_bin_edges(values, bins=40)
            for chain, chain_values in enumerate(values):
                ax.stairs(np.histogram(chain_values, bins=bins, density=True)[0], bins, label=f"chain {chain}")
        ax.set_title(f"{name}  (mean {values.mean():.4g})", fontsize=10)
        ax.set_yticks([])
    fig.suptitle(title, fontsize=11)
    return figure_png(fig)


def p_alive_matrix(
    draws: Mapping[str, np.ndarray], max_frequency: int, T: float, model: str = DEFAULT_PURCHASE_MODEL, recency_steps: int = 60
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior-mean P(alive) of purchase model ``model`` for frequency 0..max_frequency
    x recency in [0, T].

    Returns ``(frequency, recency, matrix)`` with ``matrix[i, j]`` for ``frequency[i]``
    and ``recency[j]`` (under BG/NBD a customer with no repeat order is alive, so row 0
    is 1 throughout).
    """
    purchase = PURCHASE_MODELS[model]
    params = thin({k: draws[k] for k in purchase.parameters}, PLOT_DRAWS)
    frequency = np.arange(max_frequency + 1)
    recency = np.linspace(0.0, T, recency_steps)
    x, t_x = np.meshgrid(frequency, recency, indexing="ij")
    p = purchase.p_alive(**params, x=x.ravel(), t_x=t_x.ravel(), T=np.full(x.size, T))
    return frequency, recency, p.mean(axis=0).reshape(x.shape)


def p_alive_png(frequency: np.ndarray, recency: np.ndarray, matrix: np.ndarray, T: float) -> bytes:
    fig = Figure(figsize=(6.4, 4.2))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.12, top=0.92)
    ax = fig.subplots()
    image = ax.imshow(
        matrix,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        extent=(recency[0], recency[-1], frequency[0] - 0.5, frequency[-1] + 0.5),
    )
    fig.colorbar(image, ax=ax, label="P(alive)")
    ax.set_xlabel("recency: day of the last repeat order")
    ax.set_ylabel("frequency: repeat orders")
    ax.set_title(f"Probability a customer is alive, customer age T = {T:g} days", fontsize=11)
    return figure_png(fig)


def repeat_order_counts(
    draws: Mapping[str, np.ndarray], rows: pd.DataFrame, model: str = DEFAULT_PURCHASE_MODEL, max_orders: int = 7
) -> pd.DataFrame:
    """Customers with 0, 1, ..., ``max_orders - 1`` and ``max_orders``+ repeat orders:
    ``actual`` (from ``rows``) and ``expected`` by the fitted purchase model ``model``.

    ``rows`` holds distinct ``frequency`` and ``T`` with their customer count ``n``.
    Customer i's repeat orders over its own period T_i are a new customer's X(T_i), with
    the posterior-mean PMF (the model's ``pmf_range`` for an empty history);
    ``expected[k]`` sums it over customers. The last bucket takes the rest of the
    distribution, so both columns sum to the number of customers.
    """
    purchase = PURCHASE_MODELS[model]
    params = thin({k: draws[k] for k in purchase.parameters}, PLOT_DRAWS)
    by_age = rows.groupby("T", as_index=False)["n"].sum()
    ages = by_age["T"].to_numpy(float)
    weights = by_age["n"].to_numpy(float)
    zeros = np.zeros_like(ages)
    pmf = purchase.pmf_range(params, x=zeros, t_x=zeros, T=zeros, t=ages, n_start=0, n_stop=max_orders)
    expected = [float(p @ weights) for p in pmf.mean(axis=1)]
    customers = float(weights.sum())
    expected.append(customers - sum(expected))
    frequency = rows["frequency"].to_numpy()
    n = rows["n"].to_numpy()
    actual = [int(n[frequency == k].sum()) for k in range(max_orders)] + [int(n[frequency >= max_orders].sum())]
    labels = [str(k) for k in range(max_orders)] + [f"{max_orders}+"]
    return pd.DataFrame({"repeat_orders": labels, "actual": actual, "expected": expected})


def repeat_orders_png(counts: pd.DataFrame) -> bytes:
    fig = Figure(figsize=(6.4, 3.6))
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.15, top=0.9)
    ax = fig.subplots()
    position = np.arange(len(counts))
    ax.bar(position - 0.2, counts["actual"], width=0.4, label="actual")
    ax.bar(position + 0.2, counts["expected"], width=0.4, label="expected by the model")
    ax.set_xticks(position, counts["repeat_orders"])
    ax.set_xlabel("repeat orders in the customer's observation period")
    ax.set_ylabel("customers")
    ax.set_title("Customers by number of repeat orders: actual vs model", fontsize=11)
    ax.legend()
    return figure_png(fig)


def tracking_plot(track: pd.DataFrame, window: Window) -> bytes:
    """Cumulative repeat orders by day, actual and per model, with the cutoff marked."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    first = track[track.model == track.model.iloc[0]]
    ax.plot(first["day_date"], first["actual_cumulative"], color="black", lw=2, label="actual")
    for model, group in track.groupby("model", sort=False):
        ax.plot(group["day_date"], group["predicted_cumulative"], ls="--", label=_label(model))
    ax.axvline(pd.Timestamp(window.cutoff), color="grey", ls=":", label="cutoff")
    ax.set_ylabel("cumulative repeat orders")
    ax.set_title("Tracking: calibration and holdout")
    ax.legend()
    return figure_png(fig)


def calibration_plot(deciles: pd.DataFrame) -> bytes:
    """Predicted P(order) vs observed share of customers who ordered, by decile and model."""
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    for model, group in deciles.groupby("model", sort=False):
        ax.plot(group["predicted_p_order"], group["observed_share"], marker="o", label=_label(model))
    ax.set_xlabel("predicted P(at least one holdout order)")
    ax.set_ylabel("observed share who ordered")
    ax.set_title("Calibration by decile")
    ax.legend()
    return figure_png(fig)


def figure_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _label(model: str) -> str:
    """A backtest candidate's label, with or without covariates."""
    return (PURCHASE_MODELS.get(model) or COVARIATE_PURCHASE_MODELS[model]).label
