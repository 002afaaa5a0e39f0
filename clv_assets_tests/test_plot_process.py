"""A fit's plots drawn in the helper process of a side-by-side runner are the bytes drawn
in the run's own thread; without a runner's block nothing starts a process; a helper that
dies leaves the plots drawn here."""

from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd

from clv_assets.lib import plot_process
from clv_assets.stats import plots
from clv_assets.stats.registry import DEFAULT_PURCHASE_MODEL

RNG = np.random.default_rng(3)
# 2 chains x 50 draws around CDNOW's estimates (days)
PURCHASE = {k: RNG.normal(v, 0.03 * v, (2, 50)) for k, v in {"r": 0.24, "alpha": 30.0, "a": 0.8, "b": 2.4}.items()}
SPEND = {k: RNG.normal(v, 0.03 * v, (2, 50)) for k, v in {"p": 6.2, "q": 3.7, "v": 15.0}.items()}
ROWS = pd.DataFrame({"frequency": [0.0, 1.0, 2.0, 5.0], "T": [30.0, 200.0, 400.0, 380.0], "n": [40, 12, 5, 1]})
FITS = [(DEFAULT_PURCHASE_MODEL, PURCHASE, list(PURCHASE), "BG/NBD posterior", ROWS), ("gamma_gamma", SPEND, list(SPEND), "GG", None)]


def _helpers() -> list[int]:
    """Process ids of this process's living children."""
    import multiprocessing

    return [child.pid for child in multiprocessing.active_children()]


def _here(fit: tuple) -> tuple:
    """The fit's plots drawn in this thread, as Markdown images, and its counts."""
    images, counts = plots.fit_images(*fit)
    return {name: plots.markdown_image(png, alt) for name, (png, alt) in images.items()}, counts


def test_plots_drawn_in_the_helper_are_the_bytes_drawn_here():
    here = [_here(fit) for fit in FITS]
    assert set(here[0][0]) == {"posterior_plot", "p_alive_matrix", "repeat_orders_plot"} and here[1][1] is None
    before = set(_helpers())
    with plot_process.helper_process():
        plot_process.start()
        pending = [plot_process.fit_images(*fit) for fit in FITS]
        helpers = set(_helpers()) - before
        drawn = [result() for result in pending]
        assert len(helpers) == 1  # one helper, which drew both
    assert not set(_helpers()) - before  # and ended with the block
    for (images, counts), (images_here, counts_here) in zip(drawn, here, strict=True):
        assert images == images_here
        assert (counts is None and counts_here is None) or counts.equals(counts_here)


def test_without_a_runners_block_the_plots_are_drawn_in_the_thread():
    before = set(_helpers())
    plot_process.start()
    images, counts = plot_process.fit_images(*FITS[0])()
    assert set(_helpers()) == before
    assert images == _here(FITS[0])[0]


def test_a_helper_that_dies_leaves_the_plots_drawn_here():
    expected = _here(FITS[0])[0]
    with plot_process.helper_process():
        plot_process.start()
        plot_process.fit_images(*FITS[1])()  # the helper is up
        (helper,) = _helpers()
        os.kill(helper, signal.SIGKILL)
        assert plot_process.fit_images(*FITS[0])()[0] == expected  # submitted before the pool noticed, or after
        assert plot_process.fit_images(*FITS[0])()[0] == expected
