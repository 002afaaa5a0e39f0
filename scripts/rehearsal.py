"""Multi-machine rehearsal: accounts backfilled by worker processes sharing only PostgreSQL and the lake.

    python scripts/rehearsal.py --accounts 8 --customers 200 --workers 2 --method map

1. writes demo landing data for the accounts (one generator run, copied per worker);
2. embedded-file mode: the same workers share one DuckDB file and a SQLite Dagster
   instance (what ``clv-assets materialize --workers`` does), timed;
3. lake mode: a PostgreSQL server of its own (``clv_assets_tests/postgres_server.py``)
   holds the DuckLake catalog and the Dagster storage; every worker has its own working
   directory, temp dir, landing copy and DAGSTER_HOME, and shares only the server and
   the lake's data path. A BI reader attached read-only to the lake reads all the time;
4. prints lock errors, failed runs, per-account row counts of every table in both modes
   (lost or duplicated rows show as a difference) and the reader's findings.

Nothing here is mocked: real DuckDB, DuckLake, PostgreSQL and Dagster runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clv_assets.lib.lake import attach_lake  # noqa: E402
from clv_assets_tests.postgres_server import PostgresServer  # noqa: E402

LOCK_ERRORS = ("Transaction conflict", "WarehouseBusy", "lock held by another", "Could not set lock")


def _accounts_per_worker(accounts: list[str], workers: int) -> list[list[str]]:
    return [s for s in (accounts[i::workers] for i in range(workers)) if s]


def _worker(env: dict, cwd: Path, accounts: list[str], method: str | None, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "clv_assets.cli", "materialize", "--worker"]
    argv += ["--method", method] if method else []
    argv += [a for account in accounts for a in ("--account", account)]
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _account_counts(conn: duckdb.DuckDBPyConnection, database: str) -> dict[tuple[str, str], int]:
    tables = conn.execute(
        "SELECT DISTINCT schema_name || '.' || table_name FROM duckdb_columns() "
        "WHERE database_name = $db AND column_name = 'account' AND NOT internal ORDER BY 1",
        {"db": database},
    ).fetchall()
    counts = {}
    for (table,) in tables:
        for account, n in conn.execute(f'SELECT account, count(*) FROM "{database}".{table} GROUP BY 1').fetchall():
            counts[(table, account)] = n
    return counts


def _run(workers: list[tuple[dict, Path, list[str]]], method: str | None, logs: Path) -> tuple[float, str]:
    started = time.perf_counter()
    procs = [_worker(env, cwd, share, method, logs / f"worker{i}.log") for i, (env, cwd, share) in enumerate(workers)]
    for proc in procs:
        proc.wait()
    seconds = time.perf_counter() - started
    text = "".join((logs / f"worker{i}.log").read_text() for i in range(len(workers)))
    return seconds, text


class Reader(threading.Thread):
    """A BI reader on the lake: each read is one snapshot of three tables.

    An account counts as published once its marts.customer_profile has rows; from then
    on every snapshot must show one profile row per features.rfm customer.
    """

    def __init__(self, catalog: str, data: str) -> None:
        super().__init__(daemon=True)
        self.catalog, self.data = catalog, data
        self.stop = threading.Event()
        self.reads = self.partial = 0
        self.broken: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        conn = duckdb.connect()
        attach_lake(conn, self.catalog, self.data, read_only=True)
        while not self.stop.is_set():
            try:
                conn.execute("BEGIN")
                seen = {}
                for table in ("features.rfm", "marts.customer_profile"):
                    exists = conn.execute(
                        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'lake' "
                        "AND schema_name || '.' || table_name = $t", {"t": table}
                    ).fetchone()[0]
                    seen[table] = dict(conn.execute(f"SELECT account, count(*) FROM {table} GROUP BY 1").fetchall()) if exists else {}
                conn.execute("COMMIT")
            except duckdb.Error as exc:
                conn.execute("ROLLBACK")
                self.errors.append(str(exc).splitlines()[0])
                continue
            self.reads += 1
            for account, profiles in seen["marts.customer_profile"].items():
                if profiles != seen["features.rfm"].get(account):
                    self.broken.append(f"{account}: {profiles} profiles vs {seen['features.rfm'].get(account)} rfm rows")
            self.partial += len(set(seen["features.rfm"]) - set(seen["marts.customer_profile"]))
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--method", default="map")
    parser.add_argument("--modes", default="file,lake")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="clv-rehearsal-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLV_", "DAGSTER_HOME"))}
    landing = root / "landing"
    subprocess.run([sys.executable, "-m", "clv_assets.cli", "demo", "--accounts", str(args.accounts),
                    "--customers", str(args.customers), "--seed", str(args.seed)],
                   env={**base, "CLV_LANDING_DIR": str(landing)}, check=True, stdout=subprocess.DEVNULL)
    accounts = sorted(p.name for p in landing.iterdir() if p.is_dir())
    shares = _accounts_per_worker(accounts, args.workers)
    results = {}

    if "file" in args.modes:
        files = root / "file"
        files.mkdir()
        env = {**base, "CLV_LANDING_DIR": str(landing), "CLV_WAREHOUSE": str(files / "warehouse.duckdb"),
               "DAGSTER_HOME": str(files / "dagster_home")}
        subprocess.run([sys.executable, "-c", "from clv_assets import settings; settings.ensure_dagster_home()"],
                       env=env, check=True)
        seconds, text = _run([(env, files, share) for share in shares], args.method, files)
        with duckdb.connect(str(files / "warehouse.duckdb"), read_only=True) as conn:
            counts = _account_counts(conn, "warehouse")
        results["file"] = (seconds, text, counts)
        print(f"file mode: {len(accounts)} accounts in {seconds:.0f} s, {text.count(': ok in')} ok", flush=True)

    if "lake" in args.modes:
        with PostgresServer() as pg:
            catalog = pg.create_database("clv_lake")
            pg.create_database("dagster")
            data = root / "lake-data"
            workers = []
            for i, share in enumerate(shares):
                home = root / f"machine{i}"
                (home / "tmp").mkdir(parents=True)
                shutil.copytree(landing, home / "landing", ignore=lambda d, names: [n for n in names if d == str(landing) and n not in share and (landing / n).is_dir()])
                env = {**base, "CLV_LANDING_DIR": str(home / "landing"), "CLV_WAREHOUSE": str(home / "unused.duckdb"),
                       "DAGSTER_HOME": str(home / "dagster_home"), "TMPDIR": str(home / "tmp"),
                       "CLV_DUCKLAKE_CATALOG": catalog, "CLV_DUCKLAKE_DATA": str(data),
                       "CLV_DAGSTER_POSTGRES_URL": pg.url("dagster")}
                workers.append((env, home, share))
            # create the catalog before the reader attaches (the first ATTACH initialises it)
            conn = duckdb.connect()
            attach_lake(conn, catalog, str(data))
            conn.close()
            reader = Reader(catalog, str(data))
            reader.start()
            seconds, text = _run(workers, args.method, root)
            reader.stop.set()
            reader.join()
            conn = duckdb.connect()
            attach_lake(conn, catalog, str(data), read_only=True)
            counts = _account_counts(conn, "lake")
            runs = pg.psql("SELECT status, count(*) FROM runs GROUP BY 1 ORDER BY 1", "dagster").split()
        results["lake"] = (seconds, text, counts)
        print(f"lake mode: {len(accounts)} accounts in {seconds:.0f} s, {text.count(': ok in')} ok; "
              f"Dagster runs in PostgreSQL: {' '.join(runs)}")
        print(f"BI reader: {reader.reads} snapshot reads, {len(reader.broken)} with an account whose profile "
              f"and features disagree, {reader.partial} sightings of an account still in progress, "
              f"{len(reader.errors)} read errors {reader.errors[:3]}")

    for mode, (seconds, text, counts) in results.items():
        lock_errors = sum(text.count(e) for e in LOCK_ERRORS)
        print(f"{mode}: {lock_errors} lock errors, {text.count('FAILED')} failed accounts, "
              f"{len(accounts) * 3600 / seconds:.1f} accounts/hour, "
              f"{len({a for _, a in counts})} accounts x {len({t for t, _ in counts})} tables")
    if len(results) == 2:
        file_counts, lake_counts = results["file"][2], results["lake"][2]
        differ = {k: (file_counts.get(k), lake_counts.get(k)) for k in file_counts.keys() | lake_counts.keys()
                  if file_counts.get(k) != lake_counts.get(k)}
        print(f"rows per account and table, lake vs file: {len(differ)} differ {sorted(differ.items())[:5]}")
    print(f"logs: {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
