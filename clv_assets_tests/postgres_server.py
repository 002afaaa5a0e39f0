"""A throw-away PostgreSQL server for tests and the rehearsal script.

The server binaries come from the machine (Debian's ``postgresql-15`` package, found via
``pg_config --bindir`` or ``/usr/lib/postgresql/*/bin``; ``scripts/ensure_postgres.sh``
installs them on a fresh machine). ``initdb`` and ``postgres`` refuse to run as root, so
as root they run as the ``postgres`` user in a temporary directory that user owns.
The server listens on 127.0.0.1 at a free port with trust authentication: it is local
to the test and gone when it stops.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SERVICE_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def server_bindir() -> Path:
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.append(out)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if directory and (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/ensure_postgres.sh "
        "or install Debian's postgresql package"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as pg: pg.create_database("x"); pg.conninfo("x")``."""

    def __init__(self) -> None:
        self.bindir = server_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="clv-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self._as_root:
            cmd = ["runuser", "-u", SERVICE_USER, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=True)

    def start(self) -> PostgresServer:
        if self._as_root:
            shutil.chown(self.root, SERVICE_USER, SERVICE_USER)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                         "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql).stdout

    def create_database(self, name: str) -> str:
        """Create database ``name`` (a plain identifier from the caller's code); return its conninfo."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.conninfo(name)

    def conninfo(self, database: str) -> str:
        """libpq key=value connection string (DuckLake's catalog setting)."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        """postgresql:// URL (Dagster's storage setting)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
