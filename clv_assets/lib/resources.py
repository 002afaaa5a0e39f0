"""Resources shared by the asset modules."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from filelock import FileLock, Timeout
from pydantic import Field

from clv_assets.lib.errors import WarehouseBusy
from clv_assets.lib.lake import (
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    LakeSettings,
    lake_connection,
    lake_settings,
    lock_timeout_seconds,
)
from clv_assets.lib.landing import ACCOUNT_SETTINGS_FILE, MalformedLandingFile, account_settings

# DuckDB's buffer pool gets this share of the machine's (or the container's) memory. The
# warehouse file lock lets one process at a time hold a DuckDB instance on the warehouse,
# so the share is not multiplied by the runs or step processes waiting for the file; what
# it leaves (three quarters) is for those processes' own arrays (fits sample and predict
# while another process holds the file) and the OS page cache. 24 GiB gives 6 GB: a
# 1M-customer account's SQL uses about 1.2 GB; the 10M account needs it (a fifth, 4.7 GB,
# ran out of memory in its snapshot step; decision 0016).
DUCKDB_MEMORY_SHARE = 0.25
MIN_DUCKDB_MEMORY_MB = 512
# Row groups an insert buffers before it writes them (DuckDB's default 5): one keeps a
# million-row insert of a wide table 330 MB smaller (marts.customer_profile at 1M
# customers: 1.53 -> 1.21 GB peak) and took no longer there or for 3.5M narrow rows.
WRITE_BUFFER_ROW_GROUPS = 1
# WAL size at which a commit checkpoints (DuckDB's default 16 MB). A checkpoint re-compresses
# the last, partly filled row group of every table written since the one before, whatever
# the rows written: with 16 MB a small account's run reached it once or more (0.5-0.7 s on
# a warehouse of 20 accounts, 24% of a one-process run of 20 x 5,000 customers in commits).
# Its commits now go to the WAL (synced: as durable) and a process's close checkpoints
# them once; a killed process leaves at most this much WAL, replayed at the next open
# (decision 0039). Large inserts write their row groups to the file directly either way.
CHECKPOINT_THRESHOLD = "256MB"


class WarehouseResource(DuckDBResource):
    """The warehouse file, opened by one process at a time.

    DuckDB lets one process hold a database file read-write and refuses every other
    process, even read-only ones, with "Could not set lock on file". Runs of several
    accounts (and the steps of one run under the multiprocess executor) are separate
    processes, so every connection first takes a cross-process file lock next to the
    warehouse (``<warehouse>.lock``): a process that wants the file waits for the one
    that has it instead of failing. Assets keep connections short (read, close, fit,
    then open again to write), so the lock is never held while a model samples.

    A process outside this resource (say a DuckDB shell on the warehouse) does not take
    the file lock; opening then retries with jittered exponential backoff. Both waits end
    after ``lock_timeout`` seconds with :class:`WarehouseBusy`, which the job's retry
    policy treats as transient. BI tools read the serving copy (``clv_assets.lib.serving``),
    never this file.
    """

    lock_timeout: float = Field(default=DEFAULT_LOCK_TIMEOUT_SECONDS, description="seconds to wait for the file")
    lake_catalog: str | None = Field(default=None, description="DuckLake catalog: libpq conninfo of a PostgreSQL db")
    lake_data: str | None = Field(default=None, description="DuckLake data path (directory or object store URL)")

    @property
    def is_lake(self) -> bool:
        return bool(self.lake_catalog)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.is_lake:
            # no file lock: DuckLake's catalog in PostgreSQL isolates readers (snapshots)
            # and lake_write_lock (lib/lake.py) serialises the short write transactions
            with lake_connection(self.lake_catalog, self.lake_data, self.connection_config) as conn:
                yield conn
            return
        hold = _HELD.get(self.database)
        if hold is not None:
            # the process holds the file (hold_open): a connection is a cursor of one
            # instance; closing it neither checkpoints nor lets go of the file, unless
            # another process waits for it (then the hold lets go, see _Hold)
            with hold.cursor() as conn:
                yield conn
            return
        if self.database == ":memory:":
            conn = duckdb.connect(":memory:", config=self.connection_config)
            try:
                yield conn
            finally:
                conn.close()
            return
        lock = _acquire_file_lock(self.database, self.lock_timeout)
        try:
            conn = _connect_when_free(self.database, self.connection_config, time.monotonic() + self.lock_timeout)
            try:
                yield conn
            finally:
                # close even when the body failed: an open connection keeps DuckDB's
                # own file lock after ours is released
                conn.close()
        finally:
            lock.release()


def _waiting_marker(database: str) -> Path:
    """The file a process waiting for the warehouse keeps touching, so that a process
    holding it open (hold_open) lets go at its next connection's end."""
    return Path(f"{database}.waiting")


# how often a waiting process tries the lock again and touches the marker
WAIT_POLL_SECONDS = 0.1


def _acquire_file_lock(database: str, timeout: float) -> FileLock:
    """Take the cross-process lock of ``database``, saying meanwhile that this process waits."""
    # one lock object per file and process: reentrant when a connection is opened
    # while another one is open (DuckDB shares the instance then); not per thread, as a
    # hold's watcher thread may let go of what the main thread took
    lock = FileLock(f"{database}.lock", is_singleton=True, thread_local=False)
    marker = _waiting_marker(database)
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock.acquire(timeout=min(WAIT_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            break
        except Timeout:
            if time.monotonic() >= deadline:
                with suppress(OSError):
                    marker.unlink(missing_ok=True)
                raise WarehouseBusy(
                    f"warehouse {database} stayed locked by another process for {timeout:.0f} s"
                ) from None
            with suppress(OSError):
                marker.touch()
    # another waiter touches it again within WAIT_POLL_SECONDS
    with suppress(OSError):
        marker.unlink(missing_ok=True)
    return lock


# what the held instance may keep cached between two connections, beside the rows not yet
# checkpointed
RELEASED_TO_BYTES = 64_000_000  # DuckDB's "64MB"
# a hold lets go for a waiting process once it has had the file this long: two processes
# that both read and write take turns per stretch, not per connection (an open and a
# close with its checkpoint cost ~50 ms on a warehouse of many accounts)
MIN_HOLD_SECONDS = 1.0


class _Hold:
    """The warehouse held open by this process (:func:`hold_open`): opened at its first
    connection and let go when another process waits for the file (it keeps touching
    ``<warehouse>.waiting``) and the file has been held ``MIN_HOLD_SECONDS``: at the end
    of a connection, or, while no connection is open (the process fits or predicts), by a
    watcher thread within ``WAIT_POLL_SECONDS``. Opened again at the next connection."""

    def __init__(self, warehouse: WarehouseResource):
        self.warehouse = warehouse
        self.conn: duckdb.DuckDBPyConnection | None = None
        self.lock: FileLock | None = None
        self.since = 0.0
        self.open_cursors = 0
        self.mutex = threading.Lock()  # the connection and the cursor count, with the watcher
        self.done = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="warehouse-hold", daemon=True)
        self.watcher.start()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.mutex:
            if self.conn is None:
                self._open()
            conn = self.conn.cursor()
            self.open_cursors += 1
        try:
            yield conn
        finally:
            conn.close()
            with self.mutex:
                self.open_cursors -= 1
                if self.open_cursors == 0:
                    if self._wanted_elsewhere():
                        self._let_go()
                    else:
                        _release_cached_blocks(self.conn, self.warehouse.connection_config.get("memory_limit"))

    def _open(self) -> None:
        database = self.warehouse.database
        self.lock = _acquire_file_lock(database, self.warehouse.lock_timeout)
        try:
            self.conn = _connect_when_free(
                database, self.warehouse.connection_config, time.monotonic() + self.warehouse.lock_timeout
            )
        except BaseException:
            self.lock.release()
            self.lock = None
            raise
        self.since = time.monotonic()

    def _watch(self) -> None:
        while not self.done.wait(WAIT_POLL_SECONDS):
            with self.mutex:
                if self.conn is not None and self.open_cursors == 0 and self._wanted_elsewhere():
                    self._let_go()

    def _wanted_elsewhere(self) -> bool:
        return time.monotonic() - self.since >= MIN_HOLD_SECONDS and _waiting_marker(self.warehouse.database).exists()

    def _let_go(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()  # checkpoints: the file is whole for the next process
            finally:
                self.conn = None
                self.lock.release()
                self.lock = None

    def end(self) -> None:
        self.done.set()
        self.watcher.join()
        with self.mutex:
            self._let_go()


def _release_cached_blocks(held: duckdb.DuckDBPyConnection, memory_limit: str | None) -> None:
    """Let the held instance give back the table blocks it keeps cached once a connection
    is done with them: lowering the memory limit evicts them, and the limit is set back.

    A connection opened and closed per use lets go of everything; a held instance kept
    every table the run had read or written in memory, up to the memory limit, which
    made the later steps of a 1M-customer run peak 1 GB above their own needs. The next
    step reads what it needs again from the file (in the OS's cache, compressed as
    stored). When memory in use stands in the way (a query of another thread), the
    lowering fails and the cache stays as it was.

    Rows committed since the last checkpoint (``CHECKPOINT_THRESHOLD``) live in memory
    only, tagged ``IN_MEMORY_TABLE``: the limit is lowered to leave them too, since
    evicting them would write them to a temporary file to be read back at the checkpoint
    (0.2 s per small account, 28 connections of 5-25 ms each).
    """
    unsaved, in_use = held.execute(
        "SELECT coalesce(sum(memory_usage_bytes) FILTER (WHERE tag = 'IN_MEMORY_TABLE'), 0), "
        "coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
    ).fetchone()
    if in_use - unsaved <= RELEASED_TO_BYTES:
        return  # nothing to give back (a small account's steps): no two SETs, ~3 ms each time
    with suppress(duckdb.Error):
        # a literal, not a parameter (a bound SET costs 1.5 ms more): the number is ours
        held.execute(f"SET memory_limit = '{RELEASED_TO_BYTES + int(unsaved)} bytes'")
    if memory_limit:
        held.execute("SET memory_limit = $limit", {"limit": memory_limit})
    else:
        held.execute("RESET memory_limit")


@contextmanager
def hold_open(warehouse: WarehouseResource) -> Iterator[None]:
    """Keep ``warehouse``'s file open in this process for the length of the block.

    Every ``get_connection`` of the block is then a cursor of one DuckDB instance: no
    open, catalog read and checkpoint per connection (two dozen per account run). A
    process that wants the file meanwhile says so, and the hold lets go once it has held
    the file ``MIN_HOLD_SECONDS``: at the end of a connection, or at once while none is
    open, so worker processes take turns: one fits while the other writes. A lake or an
    in-memory database is left as it is.
    """
    if warehouse.is_lake or warehouse.database == ":memory:" or warehouse.database in _HELD:
        yield
        return
    hold = _HELD[warehouse.database] = _Hold(warehouse)
    try:
        yield
    finally:
        del _HELD[warehouse.database]
        hold.end()


_HELD: dict[str, _Hold] = {}


def _connect_when_free(database: str, config: dict, deadline: float) -> duckdb.DuckDBPyConnection:
    delay = 0.05
    while True:
        try:
            return duckdb.connect(database, read_only=False, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() + delay > deadline:
                raise WarehouseBusy(f"warehouse {database} is held by another program: {exc}") from None
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, 2.0)


def warehouse_resource(path: Path | str, lake: LakeSettings | None = None) -> WarehouseResource:
    """The one way to open the warehouse in this process.

    DuckDB shares one database instance per file and process and refuses a second
    connection configuration, so every caller goes through this. The memory limit
    (``CLV_DUCKDB_MEMORY_LIMIT``, default a quarter of the machine's memory, see
    :func:`default_duckdb_memory_limit`) makes large loads spill to disk instead of
    growing the process; ``CLV_WAREHOUSE_LOCK_TIMEOUT`` (seconds, default 900) bounds
    the wait for a warehouse held by another process (or, with a lake, for the lake's
    write lock). With ``lake`` (default: ``settings.lake_settings()``) every connection
    reads and writes the DuckLake instead of the file.
    """
    lake = lake if lake is not None else lake_settings()
    return WarehouseResource(
        database=":memory:" if lake else str(path),
        lake_catalog=lake.catalog if lake else None,
        lake_data=lake.data if lake else None,
        connection_config={
            "memory_limit": os.environ.get("CLV_DUCKDB_MEMORY_LIMIT") or default_duckdb_memory_limit(),
            "write_buffer_row_group_count": WRITE_BUFFER_ROW_GROUPS,
            "checkpoint_threshold": CHECKPOINT_THRESHOLD,
        },
        lock_timeout=lock_timeout_seconds(),
    )


def default_duckdb_memory_limit() -> str:
    """``DUCKDB_MEMORY_SHARE`` of the memory this process may use, as a DuckDB setting ("6026MiB")."""
    return f"{max(MIN_DUCKDB_MEMORY_MB, int(available_memory_bytes() * DUCKDB_MEMORY_SHARE) >> 20)}MiB"


def available_memory_bytes() -> int:
    """Physical memory, or the cgroup (container) limit when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
        break
    return total


class LandingZone(dg.ConfigurableResource):
    """The landing folder: one sub-folder of order files per account."""

    root: str

    def account_dir(self, account: str) -> Path:
        return Path(self.root) / account

    def settings_file(self, account: str) -> Path:
        return self.account_dir(account) / ACCOUNT_SETTINGS_FILE

    def account_settings(self, account: str) -> dict:
        """The account's settings file as a dict ({} without one); a malformed file fails
        the step with one line."""
        try:
            return account_settings(self.account_dir(account))
        except MalformedLandingFile as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
