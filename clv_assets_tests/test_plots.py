"""Diagnostic plots of the fits: real PNGs in the materialisation metadata, right numbers."""

from __future__ import annotations

import base64
import io
import re

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from clv_assets.stats import plots
from clv_assets.stats.purchase.bgnbd import bgnbd_expected_purchases

# a small "posterior": 2 chains x 3 draws around CDNOW's estimates (days)
DRAWS = {
    "r": np.array([[0.24, 0.26, 0.22], [0.25, 0.23, 0.27]]),
    "alpha": np.array([[30.0, 33.0, 28.0], [31.0, 29.0, 35.0]]),
    "a": np.array([[0.79, 0.7, 0.9], [0.85, 0.75, 1.3]]),
    "b": np.array([[2.4, 2.1, 2.8], [2.6, 2.2, 3.0]]),
}
DATA_URI = re.compile(r"^!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)$")


def _png_pixels(markdown: str) -> np.ndarray:
    """The image a Markdown data-URI embeds, decoded (fails unless it is a real PNG)."""
    match = DATA_URI.match(markdown)
    assert match, markdown[:80]
    png = base64.b64decode(match.group(1), validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return imread(io.BytesIO(png), format="png")


def _rows(seed=5, customers=3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"frequency": rng.poisson(1.5, customers), "T": rng.integers(10, 500, customers)})
    frame["recency"] = np.where(frame.frequency > 0, frame["T"] // 2, 0)
    return frame.groupby(["frequency", "recency", "T"], as_index=False).size().rename(columns={"size": "n"})


def test_repeat_order_counts_match_independent_formulas():
    rows = _rows()
    counts = plots.repeat_order_counts(DRAWS, rows, max_orders=7)
    assert counts.repeat_orders.tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    customers = rows.n.sum()
    assert counts.actual.sum() == customers and counts.expected.sum() == pytest.approx(customers)
    # actual: counted directly from the customers
    customer_frequency = np.repeat(rows.frequency.to_numpy(), rows.n.to_numpy())
    assert counts.actual.tolist() == [int((customer_frequency == k).sum()) for k in range(7)] + [
        int((customer_frequency >= 7).sum())
    ]
    # expected with no repeat order: P(X(T) = 0) = (alpha / (alpha + T))^r, mixed over draws
    ages = np.repeat(rows["T"].to_numpy(float), rows.n.to_numpy())
    r, alpha = DRAWS["r"].reshape(-1, 1), DRAWS["alpha"].reshape(-1, 1)
    assert counts.expected[0] == pytest.approx(((alpha / (alpha + ages)) ** r).mean(axis=0).sum(), rel=1e-9)
    # the whole distribution has the model's mean: sum_k k E[#customers with k] = sum_i E[X(T_i)]
    full = plots.repeat_order_counts(DRAWS, rows, max_orders=2000)
    assert full.expected.iloc[-1] == pytest.approx(0, abs=1e-6)  # no mass beyond 2000 orders
    zeros = np.zeros_like(ages)
    mean = bgnbd_expected_purchases(*(DRAWS[k].reshape(-1) for k in "r alpha a b".split()), zeros, zeros, zeros, ages)
    assert (full.expected[:-1] * np.arange(2000)).sum() == pytest.approx(mean.mean(axis=0).sum(), rel=1e-6)


def test_p_alive_matrix_is_the_posterior_mean_of_the_closed_form():
    frequency, recency, matrix = plots.p_alive_matrix(DRAWS, max_frequency=12, T=300.0)
    assert matrix.shape == (13, len(recency)) and recency[0] == 0 and recency[-1] == 300.0
    assert np.all(matrix[0] == 1.0)  # no repeat order: alive (BG/NBD)
    assert np.all(np.diff(matrix[1:], axis=1) > 0)  # a recent last order: more likely alive
    flat = {k: v.reshape(-1) for k, v in DRAWS.items()}
    x, t_x = frequency[5], recency[20]
    closed = 1 / (1 + flat["a"] / (flat["b"] + x - 1) * ((flat["alpha"] + 300) / (flat["alpha"] + t_x)) ** (flat["r"] + x))
    assert matrix[5, 20] == pytest.approx(closed.mean(), rel=1e-12)


def test_images_are_png_data_uris():
    pixels = _png_pixels(plots.markdown_image(plots.posterior_png(DRAWS, ("r", "alpha", "a", "b"), "t"), "posterior"))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 400
    point = {k: v[:1, :1] for k, v in DRAWS.items()}  # a MAP fit: one value per parameter
    assert _png_pixels(plots.markdown_image(plots.posterior_png(point, ("r", "a"), "map"), "x")).ndim == 3


def _latest_metadata(instance, key: dg.AssetKey, account: str) -> dict:
    """The metadata of the account's latest fit that sampled (a run that reused a stored
    fit, e.g. a later test's run of the same day, records the reuse, not the plots)."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[account]), limit=50
    )
    fitted = [r for r in result.records if not str(r.asset_materialization.metadata.get("fit_choice", dg.MetadataValue.text("")).value).startswith("reused")]
    return fitted[0].asset_materialization.metadata


def test_fit_materialisations_carry_the_plots(workspace):
    instance = dg.DagsterInstance.get()
    for truth in workspace.truths:
        account = truth["account"]
        bgnbd = _latest_metadata(instance, dg.AssetKey(["models", "purchase_model"]), account)
        for name in ("posterior_plot", "p_alive_matrix", "repeat_orders_plot"):
            assert _png_pixels(bgnbd[name].value).shape[0] > 100
        gamma_gamma = _latest_metadata(instance, dg.AssetKey(["models", "gamma_gamma"]), account)
        assert _png_pixels(gamma_gamma["posterior_plot"].value).shape[0] > 100

        counts = pd.DataFrame([record.data for record in bgnbd["repeat_orders"].records])
        stored = workspace.query(
            "SELECT least(frequency, 7) AS k, count(*) AS n FROM features.rfm WHERE account = $account GROUP BY k ORDER BY k",
            {"account": account},
        )
        assert counts.actual.tolist() == stored.n.tolist()
        customers = int(stored.n.sum())
        assert bgnbd["n_customers"].value == customers
        assert counts.expected.sum() == pytest.approx(customers, abs=0.01)
        # the demo accounts are simulated from a BG/NBD process: the fit reproduces them
        # within sampling noise in every bucket
        noise = 4 * np.sqrt(counts.expected) + 3
        assert (abs(counts.actual - counts.expected) < noise).all(), counts
