"""Where things live. Every path has an embedded default and an environment override."""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_LANDING_DIR = "data/landing"
DEFAULT_DAGSTER_HOME = "data/dagster_home"


def warehouse_path() -> Path:
    """DuckDB file holding every table (``CLV_WAREHOUSE``)."""
    return Path(os.environ.get("CLV_WAREHOUSE", DEFAULT_WAREHOUSE)).absolute()


def landing_dir() -> Path:
    """Folder with one sub-folder of order files per account (``CLV_LANDING_DIR``)."""
    return Path(os.environ.get("CLV_LANDING_DIR", DEFAULT_LANDING_DIR)).absolute()


def ensure_dagster_home() -> Path:
    """Point ``DAGSTER_HOME`` at the project's instance folder unless the user chose one.

    The CLI and ``make ui`` must share one instance so the CLI's runs show in the UI.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).absolute()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    url = os.environ.get("CLV_DAGSTER_POSTGRES_URL", "").strip()
    if url:
        os.environ["CLV_DAGSTER_POSTGRES_URL"] = dagster_postgres_url(url)
    config = home / "dagster.yaml"
    written = config.read_text() if config.exists() else None
    # rewrite only a file this module wrote (the user's own edits stay), keeping its run concurrency
    max_concurrent_runs = usable_cores() if written is None else written_run_concurrency(written)
    if max_concurrent_runs is not None:
        wanted = instance_config(max_concurrent_runs)
        if written != wanted:
            config.write_text(wanted)
    return home


def dagster_postgres_url(url: str) -> str:
    """``postgresql://...`` with psycopg2 as its driver.

    dagster-postgres needs psycopg2, while SQLAlchemy 2.1 opens plain ``postgresql://``
    URLs with psycopg 3; ``make ui`` and the daemon read the variable themselves, so set
    it as ``postgresql+psycopg2://`` there (this process and its workers get it rewritten).
    """
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    if not url.startswith("postgresql+psycopg2://"):
        raise InvalidSettingError(f"CLV_DAGSTER_POSTGRES_URL must be a postgresql:// URL, got {url.split('://')[0]!r}")
    return url


DEFAULT_MAX_AGE_HOURS = 36.0


class InvalidSettingError(ValueError):
    """An environment setting with a value that cannot be used."""


def max_load_age_hours() -> float:
    """Hours after which an account's orders count as stale (``CLV_MAX_LOAD_AGE_HOURS``)."""
    return _positive_hours("CLV_MAX_LOAD_AGE_HOURS")


def max_prediction_age_hours() -> float:
    """Hours after which an account's predictions count as stale (``CLV_MAX_PREDICTION_AGE_HOURS``)."""
    return _positive_hours("CLV_MAX_PREDICTION_AGE_HOURS")


def _positive_hours(variable: str) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return DEFAULT_MAX_AGE_HOURS
    try:
        hours = float(text)
    except ValueError:
        hours = float("nan")
    if not hours > 0 or hours == float("inf"):
        raise InvalidSettingError(f"{variable} must be a positive number of hours, got {text!r}")
    return hours


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def instance_config(max_concurrent_runs: int) -> str:
    """The ``dagster.yaml`` written into a new instance folder: local SQLite storage with
    its connections kept open (``lib/instance_storage.py``; the folders of Dagster's own
    ``storage: sqlite``), or PostgreSQL with ``CLV_DAGSTER_POSTGRES_URL`` (runs, event logs
    and schedules in one database; the URL is read from the environment by Dagster, so no
    password lands in the file). The file names no path: the SQLite folders are under the
    folder the instance is opened from, whichever that is (``DAGSTER_HOME``, or a folder
    given to Dagster), so a copied or moved data folder is an instance of its own.

    A backfill or a daily schedule queues one run per account; the instance runs
    ``max_concurrent_runs`` at a time (a new file: as many as the machine has cores; each
    run's steps use a core or two while its SQL and fits run; more runs only thrash), the
    rest queue. The warehouse lock serialises their reads and writes. Raise it on a bigger
    machine by editing ``concurrency.runs.max_concurrent_runs`` in ``$DAGSTER_HOME/dagster.yaml``.
    """
    storage = POSTGRES_STORAGE if os.environ.get("CLV_DAGSTER_POSTGRES_URL") else LOCAL_STORAGE
    return _run_queue_config(max_concurrent_runs) + storage


def _run_queue_config(cores: int) -> str:
    return f"""telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: {cores}
"""


def written_run_concurrency(text: str) -> int | None:
    """The ``max_concurrent_runs`` of a dagster.yaml this module writes or wrote, so that it
    may rewrite it; None for any other file (the user's own, left as it is).

    Written before: until 2026-12-04 with Dagster's default storage (the same folders),
    until 2026-12-05 with the instance folder's absolute path (:data:`LEGACY_LOCAL_STORAGE`,
    which a copied folder must not keep: its runs would go to the folder it was copied from).
    """
    match = re.search(r"^    max_concurrent_runs: (\d+)$", text, flags=re.MULTILINE)
    if match is None:
        return None
    runs = int(match[1])
    head = _run_queue_config(runs)
    storage = text.removeprefix(head)
    if text.startswith(head) and (storage in ("", LOCAL_STORAGE, POSTGRES_STORAGE) or LEGACY_LOCAL_STORAGE.fullmatch(storage)):
        return runs
    return None


LOCAL_STORAGE = """instance_class:
  module: clv_assets.lib.instance_storage
  class: KeptOpenSqliteInstance
"""

# what instance_config wrote for local instances until 2026-12-05, with any folder
LEGACY_LOCAL_STORAGE = re.compile(
    re.escape(
        """storage:
  custom:
    module: clv_assets.lib.instance_storage
    class: KeptOpenSqliteStorage
    config:
      base_dir: """
    )
    + r'"(?:[^"\\]|\\.)*"\n'
)


POSTGRES_STORAGE = """storage:
  postgres:
    postgres_url:
      env: CLV_DAGSTER_POSTGRES_URL
"""


def serving_path(warehouse: Path | None = None) -> Path:
    """DuckDB file BI tools read (``CLV_SERVING``; default ``<warehouse>.serving.duckdb`` beside it).

    It holds every table of the warehouse as the latest successful run of each account left
    it, and is replaced atomically by each publish (``clv_assets.lib.serving``).
    """
    if os.environ.get("CLV_SERVING"):
        return Path(os.environ["CLV_SERVING"]).absolute()
    warehouse = warehouse or warehouse_path()
    return warehouse.with_name(f"{warehouse.stem}.serving{warehouse.suffix or '.duckdb'}")


SERVING_LAYOUTS = ("single", "per-account")


def serving_layout() -> str:
    """How the serving copy is laid out (``CLV_SERVING_LAYOUT``): ``single`` (default), one
    file holding every account; ``per-account``, one file per account in :func:`serving_dir`
    holding only that account's rows, so a merchant's BI connection opens its own file and
    nothing else."""
    layout = os.environ.get("CLV_SERVING_LAYOUT", "single")
    if layout not in SERVING_LAYOUTS:
        raise InvalidSettingError(f"CLV_SERVING_LAYOUT must be one of {list(SERVING_LAYOUTS)}, got {layout!r}")
    return layout


def serving_dir(warehouse: Path | None = None) -> Path:
    """Folder of the per-account serving files (``CLV_SERVING_DIR``; default
    ``<warehouse>.serving/`` beside the warehouse): ``<folder>/<account>.duckdb``."""
    if os.environ.get("CLV_SERVING_DIR"):
        return Path(os.environ["CLV_SERVING_DIR"]).absolute()
    warehouse = warehouse or warehouse_path()
    return warehouse.with_name(f"{warehouse.stem}.serving")


def served_file(account: str, warehouse: Path | None = None) -> Path:
    """The file a BI tool or an export reads ``account`` from, in the configured layout."""
    if serving_layout() == "per-account":
        return serving_dir(warehouse) / f"{account}.duckdb"
    return serving_path(warehouse)

