"""Dagster's local SQLite storage, with its database connections kept open.

Dagster's SQLite run and event-log storages create a SQLAlchemy engine, open a SQLite
connection and close both again for every statement batch: every event of a run (~130
for one account: step starts, outputs, materialisations, check results) pays that, and
an asset event pays it twice (its run's file and the cross-run index). In a process that
runs account after account (``clv-assets materialize``, its ``--workers``), that was
0.6-1 s of a 5,000-customer account's run (median run in a worker 7.7 s without these
classes, 6.7-7.1 s with them: ``scripts/bench.py --many 20 --customers 5000 --workers 2``).

These subclasses keep the engines (one connection each) instead and change nothing
else: the same files, tables and migrations as ``storage: sqlite`` (an instance folder
keeps its history when it switches), the same lock around every use of the event log's
connections. Only the index and the latest few run files stay open. They build on the
internals of Dagster's SQLite storage (the pinned 1.13); ``test_instance_storage.py``
checks that Dagster's own storage reads back what they write.

``settings.instance_config`` names :class:`KeptOpenSqliteInstance` in the ``dagster.yaml``
it writes for local instances: Dagster gives it the folder the instance is opened from
(``DAGSTER_HOME``, or the folder passed to ``DagsterInstance.from_config``) and it puts
the storage there, so the file holds no path and a copied or moved folder is an instance
of its own (``test_portable_instance.py``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef, compute_logs_directory
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event
from sqlalchemy.pool import NullPool, StaticPool
import yaml


def _kept_open_engine(conn_string: str, **kwargs):
    """A SQLAlchemy engine on one of Dagster's SQLite files whose connections commit with
    ``synchronous=NORMAL``.

    Dagster's SQLite files are in WAL mode; with SQLite's default (FULL) every commit
    waits for an fsync of the WAL: 1 ms each on this machine's disk, and an account's run
    commits some 300 times (every event, in its run's file and in the index). With NORMAL,
    the WAL is synced at checkpoints only: a commit stays atomic and the files cannot be
    corrupted, but the last commits before a power cut (not a crash of the process) may
    be lost, which for a run's event log means a run the UI shows unfinished
    (docs/decisions/0035-dagster-sqlite-synchronous-normal.md).
    """
    engine = create_engine(conn_string, **kwargs)
    event.listen(engine, "connect", _synchronous_normal)
    return engine


def _synchronous_normal(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` keeping the index's and the latest runs' connections open."""

    OPEN_SHARDS = 4  # the index and the runs in progress (two side by side by default: --parallel)

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict = OrderedDict()
        self._tables: set[str] = set()
        self._empty_shard: bytes | None = None  # an empty run file's bytes (_copy_empty_shard)
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str):
        """The shard's engine, opened (and its tables created) on first use; the caller
        holds ``_db_lock``."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = _kept_open_engine(
                self.conn_string_for_shard(shard),
                poolclass=StaticPool,  # one connection; every use is under _db_lock
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            if shard not in self._initialized_dbs:
                if shard == INDEX_SHARD_NAME or not self._copy_empty_shard(shard):
                    self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > self.OPEN_SHARDS:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def _copy_empty_shard(self, shard: str) -> bool:
        """Creates a new run's file as a copy of an empty one; False if the file exists.

        Dagster creates each run's file with its tables and an alembic stamp: ~0.1 s of
        Python per run, under the interpreter lock that runs side by side share. The copy
        is of a file Dagster itself created once per process (the same version, tables and
        stamp); it is linked into place whole, so no other process sees it half written.
        """
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return False
        if self._empty_shard is None:
            with tempfile.TemporaryDirectory() as folder:
                engine = create_engine(create_db_conn_string(folder, "empty"), poolclass=NullPool)
                self._initdb(engine)
                engine.dispose()  # the last connection's close folds the WAL into the file
                self._empty_shard = (Path(folder) / "empty.db").read_bytes()
        partial = f"{path}.{os.getpid()}.{threading.get_ident()}.partial"
        Path(partial).write_bytes(self._empty_shard)
        try:
            os.link(partial, path)
        except FileExistsError:  # another process (the UI, say) created it meanwhile
            return False
        finally:
            os.unlink(partial)
        return True

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator:
        with self._db_lock:
            with self._engine(shard).connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # asked before every dynamic-partition lookup; tables are never dropped
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def _close(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def dispose(self) -> None:
        super().dispose()
        self._close()


class KeptOpenSqliteRunStorage(SqliteRunStorage):
    """``SqliteRunStorage`` with one engine (SQLAlchemy's pool of connections per thread)."""

    def __init__(self, conn_string: str, inst_data=None):
        super().__init__(conn_string, inst_data)
        self._kept_engine = _kept_open_engine(conn_string)

    @contextlib.contextmanager
    def connect(self) -> Iterator:
        with self._kept_engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._kept_engine.dispose()


class KeptOpenSqliteStorage(DagsterSqliteStorage):
    """``storage: sqlite`` (same folders under ``base_dir``) with the two storages above."""

    def __init__(self, base_dir: str, inst_data=None):
        self.base_dir = base_dir
        self._run_storage = KeptOpenSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = KeptOpenSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)  # Dagster's names its own class, not cls



class KeptOpenSqliteInstance(DagsterInstance):
    """A Dagster instance whose storage is :class:`KeptOpenSqliteStorage` in its own folder,
    with runs' stdout and stderr captured per thread (``lib/compute_logs.py``).

    Named in ``dagster.yaml`` as ``instance_class`` (with no ``storage``): Dagster asks the
    class for the defaults of the folder it opens (``config_defaults(base_dir)``), so the
    storage's folder is decided when the instance is loaded, never written into the file.
    Everything else is Dagster's own instance; a ``storage`` or ``compute_logs`` written
    into the file still wins.

    Runs side by side in one process (``clv-assets materialize --parallel``) need both
    changes: the capture per thread, and no logging reconfiguration at each run's start
    (:meth:`get_yaml_python_handlers`).
    """

    @classmethod
    def config_schema(cls) -> dict:
        return {}  # no settings of its own

    @staticmethod
    def config_defaults(base_dir: str) -> dict:
        storage = ConfigurableClassData(__name__, KeptOpenSqliteStorage.__name__, yaml.dump({"base_dir": base_dir}))
        compute_logs = ConfigurableClassData(
            "clv_assets.lib.compute_logs", "ThreadComputeLogManager", yaml.dump({"base_dir": compute_logs_directory(base_dir)})
        )
        return {**InstanceRef.config_defaults(base_dir), "storage": storage, "compute_logs": compute_logs}

    def get_yaml_python_handlers(self) -> list:
        """The handlers of ``python_logs.dagster_handler_config`` in ``dagster.yaml``.

        Dagster's own method runs ``logging.config.dictConfig`` at every run's start even
        when that setting is absent (and then returns no handler). That call closes every
        handler of the process under logging's module lock, and deadlocked two runs side by
        side: one run's event held its handler's lock waiting for the module lock. Without
        the setting there is nothing to configure, so nothing is.
        """
        if not self.get_python_log_dagster_handler_config():
            return []
        return list(super().get_yaml_python_handlers())
