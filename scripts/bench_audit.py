"""Benchmark of the prediction snapshot and the audit at scale (issue 26's cost target: at
1M customers both add at most 10% to the run's wall time and at most 100 MB of warehouse
per snapshot).

A demo account of ``--customers`` customers (default 1M) is materialised as of A - 1 day
(a warm-up run, as bench.py's); its snapshot is then copied to A - d for each default
checkpoint d (7, 30, 90, 180, 365: clv_assets.stats.audit.CHECKPOINTS; same customers and
draws: the audit's cost depends on the customers, their distinct histories and the windows' orders, not on the date the rows
carry), the job is run again as of A - 1 (scoring every window of those copies matured by
then, as the runs of the previous days would have), and the measured run as of A scores
exactly the windows that mature that day: one per checkpoint, a daily run's steady state,
every checkpoint included. Printed: the measured run's
wall time (``clv-assets materialize`` as a new process), the snapshot and audit steps'
seconds from its event log, and the snapshot table's bytes per snapshot (DuckDB's
storage_info: the distinct blocks of models.prediction_snapshots x the block size,
divided by the snapshots kept; and the file-size delta of one snapshot after CHECKPOINT).

    .venv/bin/python scripts/bench_audit.py [--customers 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import AS_OF_OFFSET_DAYS, _done_with, _workspace, latest_run_id, measure_tree, step_figures  # noqa: E402

from clv_assets.stats.audit import CHECKPOINTS as CHECKPOINT_COPIES  # noqa: E402

SNAPSHOT_TABLES = ("models.prediction_snapshots", "models.prediction_snapshot_draws")


def copy_snapshot(warehouse: str, account: str, source, targets) -> None:
    import duckdb

    with duckdb.connect(warehouse) as conn:
        for table in SNAPSHOT_TABLES:
            for target in targets:
                conn.execute(f"DELETE FROM {table} WHERE account = $a AND as_of = $t", {"a": account, "t": target})
                conn.execute(
                    f"INSERT INTO {table} SELECT * REPLACE (CAST($t AS DATE) AS as_of) FROM {table} "
                    "WHERE account = $a AND as_of = $s",
                    {"a": account, "s": source, "t": target},
                )
        conn.execute("CHECKPOINT")


def snapshot_bytes(warehouse: str, account: str) -> tuple[int, int, int]:
    """(bytes of models.prediction_snapshots's blocks, snapshots kept, rows per snapshot)."""
    import duckdb

    with duckdb.connect(warehouse, read_only=True) as conn:
        (block_size,) = conn.execute("SELECT block_size FROM pragma_database_size() LIMIT 1").fetchone()
        (blocks,) = conn.execute(
            "SELECT count(DISTINCT block_id) FROM pragma_storage_info('models.prediction_snapshots') WHERE block_id >= 0"
        ).fetchone()
        kept, rows = conn.execute(
            "SELECT count(DISTINCT as_of), count(*) // count(DISTINCT as_of) FROM models.prediction_snapshots WHERE account = $a",
            {"a": account},
        ).fetchone()
    return blocks * block_size, kept, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the workspace")
    args = parser.parse_args()
    from clv_assets.demo import write_demo_accounts

    root, env = _workspace(f"clv-bench-audit-{args.customers}-")
    started = time.perf_counter()
    (truth,) = write_demo_accounts(root / "landing", n_accounts=1, n_customers=args.customers, seed=args.customers % 997)
    account = truth["account"]
    print(f"== {args.customers:,} customers ({truth['n_completed_orders']:,} completed orders; "
          f"generated in {time.perf_counter() - started:.0f} s)", flush=True)
    as_of = datetime.now(UTC).date() - timedelta(days=AS_OF_OFFSET_DAYS)
    cli = [str(Path(sys.executable).with_name("clv-assets")), "materialize", "--account", account]
    day_before = as_of - timedelta(days=1)
    warm = measure_tree(cli + ["--as-of", day_before.isoformat()], env)
    print(f"  warm-up run as of {day_before}: {warm['wall']:.1f} s", flush=True)
    copy_snapshot(env["CLV_WAREHOUSE"], account, day_before, [as_of - timedelta(days=d) for d in CHECKPOINT_COPIES])
    before = measure_tree(cli + ["--as-of", day_before.isoformat()], env)
    print(f"  run as of {day_before} (scores the copies' windows matured by then): {before['wall']:.1f} s", flush=True)
    size_before = os.path.getsize(env["CLV_WAREHOUSE"])
    run = measure_tree(cli + ["--as-of", as_of.isoformat()], env)
    steps, _ = step_figures(env["DAGSTER_HOME"], latest_run_id(env["DAGSTER_HOME"]), run["samples"])
    size_after = os.path.getsize(env["CLV_WAREHOUSE"])
    import duckdb

    with duckdb.connect(env["CLV_WAREHOUSE"], read_only=True) as conn:
        scored = conn.execute(
            "SELECT snapshot_as_of, matured_days, customers, interval_method FROM marts.prediction_audit "
            "WHERE account = $a AND as_of = $d ORDER BY matured_days",
            {"a": account, "d": as_of},
        ).fetchall()
        methods = conn.execute(
            "SELECT interval_method, count(*) FROM marts.prediction_audit_detail WHERE account = $a AND as_of = $d GROUP BY ALL",
            {"a": account, "d": as_of},
        ).fetchall()
    total, kept, rows = snapshot_bytes(env["CLV_WAREHOUSE"], account)
    snap, audit = steps["models/prediction_snapshots"]["seconds"], steps["marts/prediction_audit"]["seconds"]
    print(f"  measured run as of {as_of}: {run['wall']:.1f} s wall (clv-assets materialize, new process)")
    print(f"    windows scored: " + ", ".join(f"{s:%Y-%m-%d}+{d}d ({c:,} customers, {m})" for s, d, c, m in scored))
    print(f"    detail rows by interval method: {dict(methods)}")
    print(f"    prediction_snapshots step {snap:.1f} s, prediction_audit step {audit:.1f} s: "
          f"together {snap + audit:.1f} s = {100 * (snap + audit) / run['wall']:.1f}% of the run "
          f"({100 * (snap + audit) / (run['wall'] - snap - audit):.1f}% added to the run without them)")
    print(f"    models.prediction_snapshots: {total / 1e6:.1f} MB in blocks for {kept} snapshots of {rows:,} rows: "
          f"{total / kept / 1e6:.1f} MB per snapshot; warehouse file {size_before / 1e6:.0f} -> {size_after / 1e6:.0f} MB "
          f"after the run that added one snapshot")
    _done_with(root, args.keep)


if __name__ == "__main__":
    main()
