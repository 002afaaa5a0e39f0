"""Benchmark of the prediction snapshot and the audit at scale (issue 26's cost target: at
1M customers both add at most 10% to the run's wall time and at most 100 MB of warehouse
per snapshot). ``--markdown PATH`` writes the figures as a page (the project's:
docs/measurements/prediction_audit.md).

Per generator (scripts/bench.py's ``--generator``: the demo's accounts, and many distinct
histories), one account of ``--customers`` customers (default 1M) is materialised as of
A - 1 day (a warm-up run, as bench.py's), then its snapshot is copied to earlier dates
(same customers and draws: the audit's cost depends on the customers, their distinct
histories and the window's orders, not on the date the rows carry), and the job is timed
as of A, a new process each (``clv-assets materialize``, default settings), in two states:

- **a daily run's worst day**: one copy at A - 365, so the run as of A scores one window,
  the longest (365 days: the longest order-count distributions). With daily runs and the
  default weekly cadence (``AuditConfig.audit_every_days`` 7) no day matures more than
  one window (the checkpoints 7, 30, 90, 180, 365 fall on distinct weekdays:
  test_audit.py), so this is the most a default daily run's audit does;
- **every checkpoint at once**: copies at A - d for each checkpoint d (7, 30, 90, 180,
  365; clv_assets.stats.audit.CHECKPOINTS), all five windows scored in one run: what a
  run does with ``audit_every_days: 1`` on the days the five coincide, or after a gap.

Each state is timed ``--repeat`` times (a re-run of the same as_of scores its windows
again); medians. Printed: the run's wall time, the snapshot and audit steps' seconds from
its event log, each window's seconds (the audit's metadata), and the snapshot table's
bytes per snapshot (DuckDB's storage_info: the distinct blocks of
models.prediction_snapshots x the block size, divided by the snapshots kept).

    .venv/bin/python scripts/bench_audit.py [--customers 1000000] [--generator demo distinct] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import AS_OF_OFFSET_DAYS, GENERATORS, _done_with, _workspace, latest_run_id, measure_tree, step_figures, write_accounts  # noqa: E402
from report_page import Page, add_markdown_option, fmt  # noqa: E402

from clv_assets.stats.audit import CHECKPOINTS  # noqa: E402

SNAPSHOT_TABLES = ("models.prediction_snapshots", "models.prediction_snapshot_draws")
SNAPSHOT_STEP, AUDIT_STEP = "models/prediction_snapshots", "marts/prediction_audit"
BUDGET_SHARE, BUDGET_MB = 0.10, 100.0


def copy_snapshot(warehouse: str, account: str, source, targets) -> None:
    """The snapshot of ``source`` copied to each of ``targets`` (dates), and those only:
    other copies are removed, so each state scores exactly its windows."""
    import duckdb

    with duckdb.connect(warehouse) as conn:
        for table in SNAPSHOT_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE account = $a AND as_of < $s", {"a": account, "s": source})
            for target in targets:
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


def audit_windows_metadata(dagster_home: str, run_id: str) -> str:
    """The audit's 'windows' metadata of run ``run_id`` (each window with its seconds)."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(dagster_home)
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.dagster_event.step_materialization_data.materialization
        if materialization.asset_key.to_user_string() == AUDIT_STEP:
            return str(materialization.metadata["windows"].value)
    return "-"


def timed_state(cli: list[str], env: dict, repeat: int) -> dict:
    """``repeat`` runs of ``cli`` as new processes: medians of the wall time and of the
    snapshot and audit steps, the last run's windows."""
    runs = []
    for _ in range(repeat):
        run = measure_tree(cli, env)
        run_id = latest_run_id(env["DAGSTER_HOME"])
        steps, _ = step_figures(env["DAGSTER_HOME"], run_id, run["samples"])
        runs.append({"wall": run["wall"], "snap": steps[SNAPSHOT_STEP]["seconds"], "audit": steps[AUDIT_STEP]["seconds"],
                     "windows": audit_windows_metadata(env["DAGSTER_HOME"], run_id)})
        print(f"    run: {run['wall']:.1f} s wall, snapshot {runs[-1]['snap']:.1f} s, audit {runs[-1]['audit']:.1f} s "
              f"({runs[-1]['windows']})", flush=True)
    out = {k: statistics.median(r[k] for r in runs) for k in ("wall", "snap", "audit")}
    out["walls"] = [r["wall"] for r in runs]
    out["windows"] = runs[-1]["windows"]
    # the share of the run the two steps take, and what they add to the run without them
    out["share"] = (out["snap"] + out["audit"]) / out["wall"]
    out["added"] = (out["snap"] + out["audit"]) / (out["wall"] - out["snap"] - out["audit"])
    return out


def bench_generator(generator: str, customers: int, repeat: int, keep: bool) -> dict:
    root, env = _workspace(f"clv-bench-audit-{generator}-{customers}-")
    started = time.perf_counter()
    (truth,) = write_accounts(root / "landing", generator, n_accounts=1, n_customers=customers, seed=customers % 997)
    account = truth["account"]
    print(f"== {generator}: {customers:,} customers ({truth['n_completed_orders']:,} completed orders; "
          f"generated in {time.perf_counter() - started:.0f} s)", flush=True)
    as_of = datetime.now(UTC).date() - timedelta(days=AS_OF_OFFSET_DAYS)
    day_before = as_of - timedelta(days=1)
    cli = [str(Path(sys.executable).with_name("clv-assets")), "materialize", "--account", account]
    warm = measure_tree(cli + ["--as-of", day_before.isoformat()], env)
    print(f"  warm-up run as of {day_before}: {warm['wall']:.1f} s", flush=True)
    states = {}
    for state, days in (("worst day", [max(CHECKPOINTS)]), ("every checkpoint", list(CHECKPOINTS))):
        copy_snapshot(env["CLV_WAREHOUSE"], account, day_before, [as_of - timedelta(days=d) for d in days])
        # the copies' windows that matured before A are scored as the runs of those days
        # would have scored them, so the timed runs score only the windows maturing at A
        measure_tree(cli + ["--as-of", day_before.isoformat()], env)
        print(f"  {state}: snapshots at as_of - {days} days", flush=True)
        states[state] = timed_state(cli + ["--as-of", as_of.isoformat()], env, repeat)
    total, kept, rows = snapshot_bytes(env["CLV_WAREHOUSE"], account)
    _done_with(root, keep)
    return {"generator": generator, "customers": customers, "orders": truth["n_completed_orders"], "states": states,
            "mb_per_snapshot": total / kept / 1e6, "snapshots": kept, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--generator", nargs="+", choices=list(GENERATORS), default=["demo", "distinct"])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per state (new processes); medians")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces")
    add_markdown_option(parser, "prediction_audit.md")
    args = parser.parse_args()
    page = Page("Prediction snapshots and audit: their cost at scale", "scripts/bench_audit.py")
    results = [bench_generator(g, args.customers, args.repeat, args.keep) for g in args.generator]
    rows = []
    for r in results:
        for state, t in r["states"].items():
            rows.append([
                f"{r['customers']:,} customers, {r['generator']} ({r['orders']:,} orders)", state,
                f"{t['wall']:.1f} s ({', '.join(fmt(w) for w in t['walls'])})", f"{t['snap']:.1f} s", f"{t['audit']:.1f} s",
                t["windows"], f"{100 * t['share']:.1f}%", f"{100 * t['added']:.1f}%",
                "**met**" if t["added"] <= BUDGET_SHARE else "**not met**",
            ])
            print(f"  {r['generator']} {state}: {' | '.join(rows[-1][2:])}")
    sizes = [[f"{r['customers']:,} customers, {r['generator']}", f"{r['rows']:,}", r["snapshots"], f"{r['mb_per_snapshot']:.1f} MB",
              "**met**" if r["mb_per_snapshot"] <= BUDGET_MB else "**not met**"] for r in results]
    for row in sizes:
        print("  " + " | ".join(map(str, row)))
    page.how_to_read(f"""Each run is `clv-assets materialize` of the whole job as of the same date A, a new process,
    default settings, after a warm-up run as of A - 1 whose snapshot is copied to earlier dates so that the run scores
    the windows named. 'Worst day': a daily run on the default weekly audit cadence scores at most one window a day
    (test_audit.py), the longest being 365 days. 'Every checkpoint': all five windows in one run (a cadence of 1 day, or
    a run after a gap). Times are medians of {args.repeat} runs (the runs in brackets); the steps' seconds come from the
    run's event log, each window's from the audit's metadata. Budget (issue 26): the two steps add at most
    {100 * BUDGET_SHARE:.0f}% to the run without them, and a snapshot takes at most {BUDGET_MB:.0f} MB.""")
    page.section("Time")
    page.table(["account", "state", "run, median (runs)", "snapshot step", "audit step", "windows scored (seconds each)",
                "share of the run", "added to the run without them", "10% budget"], rows)
    page.section("Warehouse per snapshot")
    page.table(["account", "rows per snapshot", "snapshots kept", "models.prediction_snapshots per snapshot", "100 MB budget"], sizes)
    if args.markdown:
        page.write(args.markdown)


if __name__ == "__main__":
    main()
