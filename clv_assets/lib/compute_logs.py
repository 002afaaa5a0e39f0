"""Runs' captured stdout and stderr, kept per thread.

Dagster's ``LocalComputeLogManager`` captures a run by pointing the process's file
descriptors 1 and 2 at the run's log files, with a ``tail -F`` process and a Python watcher
process per stream copying them back to the terminal. That is process-wide: two runs side by
side in one process (``clv-assets materialize --parallel``) would write into each other's
files, and the first to end restores the descriptors under the other. It also starts four
processes per run (~50 ms of a run, and a core's worth of Python start-ups beside it).

:class:`ThreadComputeLogManager` writes the same files (the UI reads them as Dagster's
own) from Python's ``sys.stdout`` and ``sys.stderr`` instead: while a run captures, what a
thread writes goes to the files of the run that thread executes, and to the terminal as
before. Output of threads a run starts itself (say a thread pool's) and of native code
writing to the descriptors directly reaches the terminal only (decision 0040).
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Generator, Sequence
from contextlib import contextmanager

from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import IO_TYPE_EXTENSION, LocalComputeLogManager
from dagster._utils import ensure_file, touch_file


class ThreadComputeLogManager(LocalComputeLogManager):
    """``LocalComputeLogManager`` (same folder and files) capturing the running thread's
    ``sys.stdout`` and ``sys.stderr``, not the process's file descriptors."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> ThreadComputeLogManager:
        return cls(inst_data=inst_data, **config_value)  # Dagster's names its own class, not cls

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Generator[CapturedLogContext, None, None]:
        paths = [self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[t]) for t in (ComputeIOType.STDOUT, ComputeIOType.STDERR)]
        for path in paths:
            ensure_file(path)
        with (
            open(paths[0], "a", buffering=1, encoding="utf8") as out,
            open(paths[1], "a", buffering=1, encoding="utf8") as err,
            _thread_captures(out, err),
        ):
            yield CapturedLogContext(log_key)
        # as Dagster's manager: the file that says the capture is complete
        touch_file(self.complete_artifact_path(log_key))


class _ThreadStream(io.TextIOBase):
    """Stands in for ``sys.stdout`` or ``sys.stderr`` while runs capture: a write goes to the
    original stream and, from a thread whose run captures, to that run's file."""

    def __init__(self, original, which: int):
        self.original = original
        self.which = which  # 0: stdout, 1: stderr

    def write(self, text: str) -> int:
        files = getattr(_capturing, "files", None)
        if files:
            files[-1][self.which].write(text)
        return self.original.write(text)

    def flush(self) -> None:
        files = getattr(_capturing, "files", None)
        if files:
            files[-1][self.which].flush()
        self.original.flush()

    def fileno(self) -> int:
        return self.original.fileno()

    def isatty(self) -> bool:
        return self.original.isatty()

    @property
    def encoding(self):  # type: ignore[override]
        return self.original.encoding

    def __getattr__(self, name: str):
        # the rest of the original's interface (say ``buffer``): not captured, never missing
        return getattr(self.original, name)


_capturing = threading.local()  # .files: the (stdout, stderr) files of this thread's runs, innermost last
_installed: list[_ThreadStream] = []  # the two streams while any run captures
_captures = 0
_mutex = threading.Lock()


@contextmanager
def _thread_captures(out, err) -> Generator[None, None, None]:
    global _captures
    with _mutex:
        if _captures == 0:
            _installed[:] = [_ThreadStream(sys.stdout, 0), _ThreadStream(sys.stderr, 1)]
            sys.stdout, sys.stderr = _installed
        _captures += 1
    stack = _capturing.__dict__.setdefault("files", [])
    stack.append((out, err))
    try:
        yield
    finally:
        stack.pop()
        with _mutex:
            _captures -= 1
            if _captures == 0:
                # put the originals back, unless someone replaced the streams meanwhile
                if sys.stdout is _installed[0]:
                    sys.stdout = _installed[0].original
                if sys.stderr is _installed[1]:
                    sys.stderr = _installed[1].original
                _installed.clear()
