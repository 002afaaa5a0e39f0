"""The fixed per-run overhead of an account run, for tiny accounts that reuse their fit.

Writes N demo accounts of a few hundred customers into a scratch folder, materialises them
once (MAP fits, day A), then measures a second `clv-assets materialize` one day later
(every fit reused: no sampling) and prints medians over the N runs of that command:

- process start: importing the CLI, Dagster and the definitions (a separate process);
- per account run: the wall time the CLI prints, the run's wall time in the instance,
  the steps' own time (STEP_START to STEP_SUCCESS, summed) and the rest (Dagster's run and
  event storage, step launches, resource set-up), and the number of events stored;
- per step: median seconds, to see which steps are overhead-bound.

    .venv/bin/python scripts/bench_overhead.py [--accounts 20] [--customers 200]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "clv_assets.cli"]


def _median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_overhead_"))
    env = {**os.environ, "CLV_WAREHOUSE": str(root / "warehouse.duckdb"), "CLV_LANDING_DIR": str(root / "landing"),
           "DAGSTER_HOME": str(root / "dagster_home")}
    for variable in ("CLV_SERVING", "CLV_DAGSTER_POSTGRES_URL", "CLV_DUCKLAKE_CATALOG", "CLV_DUCKLAKE_DATA"):
        env.pop(variable, None)
    run = lambda argv: subprocess.run([*CLI, *argv], env=env, cwd=ROOT, check=True, capture_output=True, text=True)  # noqa: E731
    run(["demo", "--accounts", str(args.accounts), "--customers", str(args.customers), "--seed", "3"])
    day = datetime.now(UTC).date() - timedelta(days=30)
    started = time.perf_counter()
    run(["materialize", "--method", "map", "--as-of", day.isoformat()])
    first = time.perf_counter() - started

    starts = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import clv_assets.cli, dagster; from clv_assets.definitions import build_defs; build_defs()"],
                       env=env, cwd=ROOT, check=True)
        starts.append(time.perf_counter() - t)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    bare = time.perf_counter() - t

    measured_after = datetime.now(UTC)
    started = time.perf_counter()
    out = run(["materialize", "--method", "map", "--as-of", (day + timedelta(days=1)).isoformat()]).stdout
    second = time.perf_counter() - started
    cli_seconds = [float(s) for s in re.findall(r": ok in ([0-9.]+) s", out)]

    os.environ.update({k: env[k] for k in ("CLV_WAREHOUSE", "CLV_LANDING_DIR", "DAGSTER_HOME")})
    import dagster as dg

    instance = dg.DagsterInstance.get()
    records = instance.get_run_records(filters=dg.RunsFilter(created_after=measured_after))
    walls, steps_total, rest, n_events = [], [], [], []
    per_step: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if "dagster/partition" not in record.dagster_run.tags:
            continue  # the freshness run
        walls.append(record.end_time - record.start_time)
        events = instance.all_logs(record.dagster_run.run_id)
        n_events.append(len(events))
        opened = {}
        total = 0.0
        for entry in events:
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type_value == "STEP_START":
                opened[event.step_key] = entry.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED") and event.step_key in opened:
                seconds = entry.timestamp - opened.pop(event.step_key)
                per_step[event.step_key].append(seconds)
                total += seconds
        steps_total.append(total)
        rest.append(walls[-1] - total)

    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        choices = conn.execute("SELECT count(*) FILTER (WHERE fit_choice LIKE 'reused%'), count(*) FROM models.fit_status").fetchone()
    reused = f"{choices[0]} of {choices[1]} fits reused"
    print(f"{args.accounts} accounts of {args.customers} customers; scratch folder {root}")
    print(f"first command (MAP fits): {first:.1f} s; second command, one day later ({reused}): {second:.1f} s")
    print(f"process start (python + clv_assets.cli + dagster + build_defs), median of 3: {_median(starts):.2f} s "
          f"(bare python {bare:.2f} s)")
    print(f"per account run, medians over {len(walls)} runs:")
    wall = _median(walls)
    print(f"  CLI 'ok in'          {_median(cli_seconds):6.2f} s")
    print(f"  run wall (instance)  {wall:6.2f} s")
    print(f"  steps' own time      {_median(steps_total):6.2f} s  ({_median(steps_total) / wall:.0%})")
    print(f"  rest (run/event storage, step launches, set-up) {_median(rest):6.2f} s  ({_median(rest) / wall:.0%})")
    print(f"  events stored        {_median(n_events):6.0f}")
    print("per step, median seconds (STEP_START to its end):")
    for step, values in sorted(per_step.items(), key=lambda kv: -_median(kv[1])):
        print(f"  {step:<48} {_median(values):6.3f}")
    per_command = second - sum(cli_seconds)
    print(f"second command outside the account runs (start, pooled-prior check, publish, freshness, summary): {per_command:.1f} s")


if __name__ == "__main__":
    main()
