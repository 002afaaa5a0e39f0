"""A fit's diagnostic plots drawn in a helper process while accounts run side by side.

matplotlib draws in Python, under the interpreter lock that the runs of one process share
(``clv-assets materialize --parallel``, decision 0040). Side by side, the plots of every
refitted account held that lock while the other run waited for it: 20 accounts of 5,000
customers with refits took 63.4 and 63.7 s with the plots and 56.6 and 54.5 s with them
turned off (decision 0041). A helper process has an interpreter of its own and draws on
the core the two runs leave idle; the run that asked waits without holding the lock.

Only a runner of accounts side by side opens a helper (:func:`helper_process`); with one
run at a time (the daemon's runs, ``--workers``, a single account) the plots are drawn in
the run's own thread, as a helper's start (~2 s of imports) would cost more than it
saves. The helper draws with the same code, so the images are the same bytes either way
(``test_plot_process.py``); if it dies, the plots are drawn here instead.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

_helper: _Helper | None = None  # set while a runner runs accounts side by side
# a dead helper (BrokenProcessPool), a closed one (RuntimeError), a machine whose processes
# cannot share a semaphore (OSError: a container without /dev/shm): the plots are drawn here
_NO_HELPER = (BrokenProcessPool, RuntimeError, OSError)


class _Helper:
    """One helper process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn: forking a process whose threads hold DuckDB's and Dagster's locks is unsafe
                self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_ready)
            return self._executor

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


def _ready() -> None:
    """The helper's start: Ctrl-C is the runner's to handle (the runs in progress end,
    their plots with them), and the plotting code loads before the first plot is due."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import clv_assets.stats.plots  # noqa: F401


def _draw(*args) -> tuple:
    """``plots.fit_images(*args)`` with each image as Markdown (:func:`plots.markdown_image`):
    matplotlib loads where the plots are drawn only."""
    from clv_assets.stats.plots import fit_images, markdown_image

    images, counts = fit_images(*args)
    return {name: markdown_image(png, alt) for name, (png, alt) in images.items()}, counts


@contextlib.contextmanager
def helper_process() -> Iterator[None]:
    """Within this block, fits' plots are drawn in one helper process (started by the
    first fit), which ends with the block."""
    global _helper
    helper = _helper = _Helper()
    try:
        yield
    finally:
        _helper = None
        helper.close()


def start() -> None:
    """Starts the helper, if a runner opened one, so that its imports overlap the fit that
    will ask for plots."""
    helper = _helper
    if helper is not None:
        with contextlib.suppress(*_NO_HELPER):
            helper.executor().submit(int)


def fit_images(*args) -> Callable[[], tuple]:
    """Starts ``plots.fit_images(*args)`` (in the helper, if a runner opened one) and
    returns the function that waits for its result: ``({name: Markdown image}, counts)``."""
    helper = _helper
    if helper is not None:
        try:
            future = helper.executor().submit(_draw, *args)
        except _NO_HELPER:  # the helper died or its block ended, or no process can start here
            pass
        else:

            def result() -> tuple:
                try:
                    return future.result()
                except BrokenProcessPool:  # the helper died (killed, out of memory): drawn here
                    return _draw(*args)

            return result
    drawn = _draw(*args)
    return lambda: drawn
