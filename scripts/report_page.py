"""The measurement pages under docs/measurements/: written by the scripts that measure, never by hand.

Every measuring script takes ``--markdown PATH`` (:func:`add_markdown_option`), builds a
:class:`Page` when it starts and writes it when it is done. The page opens with
:func:`header_lines`, computed here and nowhere else: the exact command that produced it
(run from the repository root), the git commit and whether the working tree differed
from it, the date (UTC) with the run's duration, the machine (CPU model, cores, memory,
OS, Python) and its load; then the script's tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = Path("docs") / "measurements"
# the pages themselves do not make a measurement's tree dirty
NOT_CODE = (f"{PAGES.as_posix()}/",)
SHOWN_DIRTY_PATHS = 8


def add_markdown_option(parser: argparse.ArgumentParser, default_page: str) -> None:
    parser.add_argument(
        "--markdown", type=Path, metavar="PATH",
        help=f"also write the figures as a Markdown page headed by this command, commit, date and machine "
             f"(the project's page: {PAGES / default_page})",
    )


def _shown_path(path: str) -> str:
    """``path`` relative to the repository root when it lies inside it."""
    try:
        return Path(path).absolute().relative_to(ROOT).as_posix()
    except ValueError:
        return path


def command_line(argv: Sequence[str] | None = None, executable: str | None = None) -> str:
    """The command as typed from the repository root: ``.venv/bin/python scripts/x.py ARGS``,
    with the environment variables that change what runs (``CLV_*``, ``PYTHONPATH``,
    ``PYTHONSAFEPATH``) in front of it."""
    argv = list(sys.argv if argv is None else argv)
    env = [f"{name}={shlex.quote(value)}" for name, value in sorted(os.environ.items())
           if name.startswith("CLV_") or name in ("PYTHONPATH", "PYTHONSAFEPATH")]
    words = [_shown_path(executable or sys.executable), _shown_path(argv[0]), *argv[1:]]
    return " ".join([*env, shlex.join(words)])


def git_state(root: Path = ROOT) -> tuple[str, list[str]]:
    """The commit checked out and the paths that differ from it (tracked changes and
    untracked files; the pages themselves excepted)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout

    commit = git("rev-parse", "HEAD").strip()
    dirty = []
    for line in git("status", "--porcelain", "--untracked-files=normal").splitlines():
        path = line[3:].split(" -> ")[-1].strip('"')
        if not path.startswith(NOT_CODE):
            dirty.append(path)
    return commit, dirty


def _meminfo_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def _cgroup_limits() -> list[str]:
    """The container's CPU and memory limits (cgroup v2), where set."""
    limits = []
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            limits.append(f"cgroup CPU limit {int(quota) / int(period):g} cores")
    except (OSError, ValueError):
        pass
    try:
        memory = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if memory != "max":
            limits.append(f"cgroup memory limit {int(memory) / 1024**3:.1f} GiB")
    except (OSError, ValueError):
        pass
    return limits


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def os_name() -> str:
    pretty = None
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{pretty or platform.system()} ({platform.system()} {platform.release()}, {platform.machine()})"


def machine() -> str:
    """CPU model, cores (those this process may use, when fewer), memory, limits, OS and Python."""
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    parts = [cpu_model(), f"{cores} cores" + (f" ({usable} usable)" if usable != cores else "")]
    memory = _meminfo_gib()
    if memory is not None:
        parts.append(f"{memory:.1f} GiB memory")
    parts += _cgroup_limits()
    parts += [os_name(), f"Python {platform.python_version()}"]
    return ", ".join(parts)


def _load() -> str:
    try:
        return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def header_lines(argv: Sequence[str] | None = None, started: datetime | None = None,
                 finished: datetime | None = None, load_at_start: str | None = None) -> list[str]:
    """The page header as Markdown list lines: command, commit, date (UTC), machine, load."""
    commit, dirty = git_state()
    started = started or datetime.now(UTC)
    if dirty:
        shown = ", ".join(f"`{p}`" for p in dirty[:SHOWN_DIRTY_PATHS]) + (", ..." if len(dirty) > SHOWN_DIRTY_PATHS else "")
        tree = f"the working tree differed from it in {len(dirty)} path(s): {shown}"
    else:
        tree = "clean working tree"
    date = f"{started:%Y-%m-%d %H:%M:%S} UTC"
    if finished is not None:
        date += f", finished {finished:%Y-%m-%d %H:%M:%S} UTC ({duration((finished - started).total_seconds())})"
    load = f"{load_at_start or _load()} at the start"
    if finished is not None:
        load += f", {_load()} at the end"
    return [
        f"- Command: `{command_line(argv)}` (from the repository root)",
        f"- Commit: `{commit}` ({tree})",
        f"- Date: {date}",
        f"- Machine: {machine()}",
        f"- Load average (1, 5, 15 min): {load}",
    ]


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A pipe table; cells are shown as given (format numbers before)."""
    clean = lambda cell: str(cell).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(clean, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(clean, row)) + " |" for row in rows]
    return "\n".join(lines)


class Page:
    """A measurement page: title, the header (taken when the script starts, completed with
    the finishing time when written), a "how to read this" paragraph, then sections."""

    def __init__(self, title: str, script: str, argv: Sequence[str] | None = None):
        self.title, self.script = title, script
        self.argv = list(sys.argv if argv is None else argv)
        self.started = datetime.now(UTC)
        self.load_at_start = _load()
        git_state()  # fail now, not after an hour of measuring, if git cannot be read
        self.reading: str | None = None
        self.blocks: list[str] = []

    def how_to_read(self, paragraph: str) -> None:
        self.reading = " ".join(paragraph.split())

    def section(self, title: str) -> None:
        self.blocks.append(f"## {title}")

    def text(self, line: str) -> None:
        self.blocks.append(" ".join(line.split()))

    def table(self, headers: Sequence[str], rows: Iterable[Sequence]) -> None:
        self.blocks.append(markdown_table(headers, rows))

    def render(self, finished: datetime | None = None) -> str:
        header = header_lines(self.argv, self.started, finished or datetime.now(UTC), self.load_at_start)
        parts = [
            f"# {self.title}",
            f"Written by `{self.script}`; do not edit by hand: run the command below again.",
            "\n".join(header),
        ]
        if self.reading:
            parts.append(f"**How to read this.** {self.reading}")
        return "\n\n".join(parts + self.blocks) + "\n"

    def write(self, path: Path | None) -> None:
        """Write the page to ``path`` (nothing when None: ``--markdown`` not given)."""
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render())
        print(f"wrote {path}", file=sys.stderr)


def fmt(value, spec: str = ",.1f", missing: str = "-") -> str:
    """``value`` formatted, or ``missing`` for None and NaN."""
    try:
        if value is None or value != value:
            return missing
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def method_label(method: str) -> str:
    """A fit method as the pages name it (``mcmc`` is NUTS, by nutpie)."""
    return {"mcmc": "NUTS", "laplace": "Laplace", "map": "MAP"}.get(method, str(method))


def median_and_runs(values: Sequence[float], spec: str = ".1f", unit: str = " s") -> str:
    """``12.3 s (12.0, 12.3, 14.1)``: the median, then every run in order."""
    import statistics

    if not values:
        return "-"
    runs = ", ".join(format(v, spec) for v in values)
    return f"{format(statistics.median(values), spec)}{unit}" + (f" ({runs})" if len(values) > 1 else "")
