"""Benchmark: an account's orders read from a PostgreSQL table, full load and a day's increment.

    .venv/bin/python scripts/bench_sources.py [--orders 3000000] [--markdown docs/measurements/sources.md]

Prints figures; it is not a test. Nothing is mocked:

1. starts a PostgreSQL server of its own (``clv_assets_tests/postgres_server.py``: as the
   ``postgres`` user, in a temp directory, gone at the end) and fills ``shop.orders``
   server-side with ``generate_series``: ``--orders`` orders (3M) of ``--customers``
   customers (default orders / 6, a skewed number of orders each), dated over the three
   years before the as-of date, channels web/app/pos, statuses completed/refunded/cancelled,
   an ``updated_at`` (when the row was last written: after the order, later for refunds),
   a primary key and an index on ``updated_at`` as an operational table has; a few rows
   the load must reject (no customer, an unknown status, a negative amount);
2. declares it as the postgres source of account ``pg-bench`` (``update_column:
   updated_at``) in the ``accounts.yaml`` of a temp workspace (``CLV_ACCOUNTS_FILE``, its
   own warehouse file and DAGSTER_HOME);
3. (a) full load: ``clv-assets materialize --account pg-bench --as-of D`` in a new process;
   (b) a day's increment: ``--change-share`` (0.5%) of the rows new (dated on day D) or
   updated (refunded or partly refunded, ``updated_at`` bumped into day D), then
   ``clv-assets materialize --as-of D+1`` in a new process; (c) the same command with
   ``--full-reload``, for the check that the increment stored the same orders.

Per run: the whole command's wall time, the ``raw/orders`` step's seconds from the Dagster
run's step stats (``instance.get_run_step_stats``), the rows that load read (``raw.load_log``)
and the slowest steps. Goal (issue 25): the increment's load step at most a tenth of the
full load's. The check: raw.orders after the increment and after the full reload have the
same row count and checksum (a hash of every contract column, summed), and the same
raw.rejected_orders count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_page import Page, add_markdown_option, fmt  # noqa: E402

from clv_assets_tests.postgres_server import PostgresServer  # noqa: E402

ACCOUNT = "pg-bench"
AS_OF = date(2026, 11, 1)
YEARS = 3
RAW_ORDERS_STEP = "raw_orders"  # the step of raw/orders (with raw/rejected_orders, raw/landing_files)

FILL_SQL = """
SELECT setseed(0.25);
CREATE SCHEMA shop;
CREATE TABLE shop.orders (
    order_id text NOT NULL, customer_id text, ordered_at timestamptz, amount numeric(12, 2),
    currency text, channel text, status text, updated_at timestamptz NOT NULL
);
INSERT INTO shop.orders
SELECT 'O' || lpad(i::text, 9, '0'),
       CASE WHEN i % {reject_every} = 0 THEN NULL ELSE 'C' || lpad(cust::text, 8, '0') END,
       ordered_at,
       CASE WHEN i % {reject_every} = 1 THEN -amount ELSE amount END,
       'EUR', channel,
       CASE WHEN i % {reject_every} = 2 THEN 'chargeback' ELSE status END,
       least(ordered_at + CASE WHEN status = 'completed' THEN random() * interval '2 hours'
                               ELSE random() * interval '30 days' END,
             timestamptz '{as_of}' - interval '1 minute')
FROM (
    SELECT i,
           -- skewed: a few customers order often, most once or twice
           1 + floor({customers} * power(random(), 1.6))::bigint AS cust,
           -- more orders lately (a growing shop), at any time of day
           timestamptz '{start}' + power(random(), 0.8) * (timestamptz '{as_of}' - timestamptz '{start}')
               - interval '1 minute' AS ordered_at,
           round(exp(3.4 + 0.7 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::numeric, 2) AS amount,
           (ARRAY['web', 'web', 'web', 'app', 'app', 'pos'])[1 + floor(random() * 6)::int] AS channel,
           CASE WHEN r < 0.92 THEN 'completed' WHEN r < 0.97 THEN 'refunded' ELSE 'cancelled' END AS status
    FROM (SELECT i, random() AS r FROM generate_series(1, {orders}) AS i) AS s
) AS g;
ALTER TABLE shop.orders ADD PRIMARY KEY (order_id);
CREATE INDEX orders_updated_at ON shop.orders (updated_at);
"""

INCREMENT_SQL = """
SELECT setseed({seed});
INSERT INTO shop.orders
SELECT 'O' || lpad(({first_id} + i)::text, 9, '0'),
       -- most from customers the shop has, some new
       CASE WHEN random() < 0.7 THEN 'C' || lpad((1 + floor({customers} * power(random(), 1.6))::bigint)::text, 8, '0')
            ELSE 'N{day}-' || lpad(i::text, 8, '0') END,
       t, round(exp(3.4 + 0.7 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::numeric, 2), 'EUR',
       (ARRAY['web', 'web', 'web', 'app', 'app', 'pos'])[1 + floor(random() * 6)::int], 'completed',
       t + random() * interval '10 minutes'
FROM (SELECT i, timestamptz '{as_of}' + random() * interval '23 hours' AS t
      FROM generate_series(1, {new}) AS i) AS s;
UPDATE shop.orders AS o
SET status = CASE WHEN c.k % 2 = 0 THEN 'refunded' ELSE o.status END,
    amount = CASE WHEN c.k % 2 = 0 THEN o.amount ELSE round(o.amount * 0.8, 2) END,
    updated_at = timestamptz '{as_of}' + random() * interval '23 hours 50 minutes'
FROM (SELECT order_id, row_number() OVER () AS k
      FROM (SELECT order_id FROM shop.orders
            WHERE status = 'completed' AND customer_id IS NOT NULL AND amount > 0
              AND ordered_at < timestamptz '{as_of}' - interval '1 day'
            ORDER BY random() LIMIT {updated}) AS p) AS c
WHERE o.order_id = c.order_id;
ANALYZE shop.orders;
"""

CHECKSUM_SQL = """
SELECT count(*), sum(hash(order_id, customer_id, ordered_at, amount, currency, channel, status)),
       (SELECT count(*) FROM raw.rejected_orders WHERE account = $a)
FROM raw.orders WHERE account = $a
"""


def materialize(env: dict, as_of: date, *extra: str) -> dict:
    """``clv-assets materialize`` for the account in a new process; its wall seconds, the
    raw/orders step's seconds, the slowest steps and what raw.load_log says about the load."""
    import dagster as dg
    import duckdb

    from clv_assets.lib.keys import ACCOUNT_JOB

    argv = [str(Path(sys.executable).with_name("clv-assets")), "materialize", "--account", ACCOUNT,
            "--as-of", as_of.isoformat(), *extra]
    load = os.getloadavg()[0]
    print(f"$ {' '.join(argv[1:])}", flush=True)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{(proc.stdout + proc.stderr)[-3000:]}")
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    record = instance.get_run_records(filters=dg.RunsFilter(job_name=ACCOUNT_JOB), limit=1)[0]
    stats = {s.step_key: (s.end_time or 0) - (s.start_time or 0)
             for s in instance.get_run_step_stats(record.dagster_run.run_id)}
    instance.dispose()
    with duckdb.connect(env["CLV_WAREHOUSE"], read_only=True) as conn:
        log = conn.execute(
            "SELECT mode, read_since, watermark, rows_read, rows_kept, rows_rejected FROM raw.load_log "
            "WHERE account = $a ORDER BY loaded_at DESC LIMIT 1", {"a": ACCOUNT}).fetchone()
        orders, checksum, rejected = conn.execute(CHECKSUM_SQL, {"a": ACCOUNT}).fetchone()
    result = {
        "wall": wall, "load_at_start": load, "step": stats[RAW_ORDERS_STEP], "steps": stats,
        "mode": log[0], "read_since": log[1], "watermark": log[2], "rows_read": log[3], "rows_kept": log[4],
        "rows_rejected": log[5], "orders": orders, "checksum": int(checksum), "rejected": rejected,
    }
    print(f"  {wall:.1f} s wall, raw/orders step {result['step']:.1f} s, {log[0]} load read {log[3]:,} rows "
          f"({log[5]:,} rejected); raw.orders {orders:,} rows; load {load:.2f}", flush=True)
    return result


def slowest(steps: dict, n: int = 5) -> str:
    top = sorted(steps.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"`{k}` {v:.1f} s" for k, v in top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=3_000_000)
    parser.add_argument("--customers", type=int, help="default: orders / 6")
    parser.add_argument("--change-share", type=float, default=0.005, help="rows new or updated in the day (0.5%%)")
    parser.add_argument("--new-share", type=float, default=0.6, help="of those, the new ones (the rest updated)")
    parser.add_argument("--days", type=int, default=3,
                        help="days of increments, each measured by a new run (the medians are over these)")
    parser.add_argument("--method", choices=["auto", "mcmc", "laplace", "map"],
                        help="passed to clv-assets materialize (default: not passed, the config's auto: Laplace above "
                             "20,000 distinct histories, as at the default size)")
    parser.add_argument("--keep", action="store_true", help="keep the workspace (the server is always stopped)")
    add_markdown_option(parser, "sources.md")
    args = parser.parse_args()
    customers = args.customers or max(1, args.orders // 6)
    changes = round(args.orders * args.change_share)
    new = round(changes * args.new_share)
    updated = changes - new
    reject_every = max(3, args.orders // 15)  # 3 kinds of reject, ~45 rows
    page = Page("PostgreSQL source: full load and a day's increment", "scripts/bench_sources.py")

    root = Path(tempfile.mkdtemp(prefix="clv-bench-sources-"))
    pg = PostgresServer().start()
    try:
        return measure(args, page, pg, root, customers, new, updated, reject_every)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"failed: {exc.stderr}") from None
    finally:
        pg.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def measure(args, page, pg, root, customers, new, updated, reject_every) -> None:
    import statistics

    changes = new + updated
    print(f"filling shop.orders: {args.orders:,} orders of {customers:,} customers ...", flush=True)
    started = time.perf_counter()
    pg.create_database("shop")
    start = AS_OF.replace(year=AS_OF.year - YEARS)
    pg.psql(FILL_SQL.format(orders=args.orders, customers=customers, reject_every=reject_every,
                            start=start.isoformat(), as_of=AS_OF.isoformat()), database="shop")
    pg.psql("VACUUM ANALYZE shop.orders", database="shop")
    fill_seconds = time.perf_counter() - started
    table_size = pg.psql("SELECT pg_size_pretty(pg_total_relation_size('shop.orders'))", database="shop").strip()
    print(f"  {fill_seconds:.1f} s, {table_size}", flush=True)

    (root / "landing").mkdir()
    (root / "dagster_home").mkdir()
    accounts_file = root / "accounts.yaml"
    source = {"kind": "postgres", "env": "BENCH_SHOP_PG", "table": "shop.orders", "update_column": "updated_at"}
    accounts_file.write_text(yaml.safe_dump({"accounts": {ACCOUNT: {"currency": "EUR", "source": source}}}))
    env = {
        **os.environ,
        "BENCH_SHOP_PG": pg.conninfo("shop"),
        "CLV_ACCOUNTS_FILE": str(accounts_file),
        "CLV_WAREHOUSE": str(root / "warehouse.duckdb"),
        "CLV_LANDING_DIR": str(root / "landing"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }

    method = ("--method", args.method) if args.method else ()
    full = materialize(env, AS_OF, *method)
    full["as_of"], full["label"] = AS_OF, "full load"

    increments, change_seconds = [], []
    for day in range(1, args.days + 1):
        changed_on = AS_OF + timedelta(days=day - 1)
        print(f"day {day}'s changes on {changed_on}: {new:,} new and {updated:,} updated rows ...", flush=True)
        started = time.perf_counter()
        pg.psql(INCREMENT_SQL.format(first_id=args.orders + (day - 1) * new, customers=customers, new=new,
                                     updated=updated, as_of=changed_on.isoformat(), seed=day / 10, day=day),
                database="shop")
        change_seconds.append(time.perf_counter() - started)
        run = materialize(env, changed_on + timedelta(days=1), *method)
        run["as_of"], run["label"] = changed_on + timedelta(days=1), f"day {day}'s increment"
        increments.append(run)
    last = increments[-1]
    reload = materialize(env, last["as_of"], "--full-reload", *method)
    reload["as_of"], reload["label"] = last["as_of"], "full reload (check)"

    # the source read alone (attach, the query, rows into Arrow), in this process: what of
    # the load step is PostgreSQL and the transfer, and what is validation and the merge
    from clv_assets.lib.sources import PostgresSource, read_source

    os.environ["BENCH_SHOP_PG"] = env["BENCH_SHOP_PG"]
    pg_source = PostgresSource(**source)
    read_runs, read_rows = [], 0
    for _ in range(3):
        started = time.perf_counter()
        read_rows = read_source(pg_source, since=last["read_since"])[0].num_rows
        read_runs.append(time.perf_counter() - started)
    started = time.perf_counter()
    full_read_rows = read_source(pg_source)[0].num_rows
    full_read = time.perf_counter() - started

    step = statistics.median(r["step"] for r in increments)
    wall = statistics.median(r["wall"] for r in increments)
    ratio, ratio_reload = step / full["step"], step / reload["step"]
    same = (last["orders"], last["checksum"], last["rejected"]) == (reload["orders"], reload["checksum"], reload["rejected"])
    runs = [full, *increments, reload]
    print(f"increment's load step (median of {len(increments)}) / full load's: {ratio:.3f}, / full reload's: "
          f"{ratio_reload:.3f} (goal <= 0.1: {'met' if ratio <= 0.1 else 'NOT met'})")
    print(f"source read alone: increment {statistics.median(read_runs):.2f} s ({read_rows:,} rows), "
          f"full {full_read:.2f} s ({full_read_rows:,} rows)")
    print(f"last increment's raw.orders equals a full reload's: {same}")

    note = f" Run with --orders {args.orders:,}, not the default 3,000,000 (the issue's size)." if args.orders != 3_000_000 else ""
    page.how_to_read(f"""One account whose orders are a PostgreSQL table of {args.orders:,} orders ({customers:,}
        customers, three years before {AS_OF}, generated server-side; {table_size} with its primary key and an index
        on updated_at), read through the postgres source with update_column updated_at.{note} Each run is one
        `clv-assets materialize --account {ACCOUNT}` in a new process, as a user runs it, on the workspace's own
        warehouse file and Dagster instance: the full load as of {AS_OF}; then, {args.days} times, a day's changes of
        {changes:,} rows ({args.change_share:.1%}: {new:,} new orders of that day, {updated:,} older orders refunded
        or partly refunded, updated_at bumped into that day) and the run as of the next day, which reads only rows
        changed after the previous load's watermark; then `--full-reload` as of the last day. "Load step" is the
        raw_orders step's seconds (raw/orders, raw/rejected_orders, raw/landing_files) from the Dagster run's step
        stats (start to end); "whole graph" is the command's wall time (process start to exit: imports, the run,
        every downstream table, the fits when not reused, the serving copy). On a loaded 2-core machine (load
        average in the header and per run): increments are quoted as medians of the {args.days} days; the full load
        and the reload are single runs.""")
    page.section("Runs")
    page.table(["run", "as-of", "load mode (raw.load_log)", "rows read", "rejected", "load step (s)",
                "whole graph wall (s)", "raw.orders rows after", "load avg at start"],
               [[r["label"], str(r["as_of"]), r["mode"], f"{r['rows_read']:,}", f"{r['rows_rejected']:,}",
                 fmt(r["step"]), fmt(r["wall"]), f"{r['orders']:,}", f"{r['load_at_start']:.2f}"] for r in runs])
    page.section("Goal: the increment's load step at most a tenth of the full load's")
    page.text(f"Increment's load step, median of {len(increments)} days: {step:.1f} s "
              f"({', '.join(fmt(r['step']) for r in increments)}). Against the full load's {full['step']:.1f} s: "
              f"**{ratio:.3f}**; against the full reload's {reload['step']:.1f} s (which also replaces the stored "
              f"rows): {ratio_reload:.3f}. Goal ≤ 0.1: **{'met' if ratio <= 0.1 else 'not met'}**. "
              f"Rows read per increment: {', '.join(f'{r['rows_read']:,}' for r in increments)} "
              f"(the full reload read {reload['rows_read']:,}).")
    page.text(f"Whole graph: increment median {wall:.1f} s ({', '.join(fmt(r['wall']) for r in increments)}) "
              f"against the full load's {full['wall']:.1f} s: {wall / full['wall']:.2f}; every downstream table is "
              f"recomputed for all the account's customers either way.")
    page.text(f"The source read alone (`read_source`: attach, the query, the rows into Arrow; in the benchmark's "
              f"process, not a run): the last increment's rows since {last['read_since']}: "
              f"{statistics.median(read_runs):.2f} s median of 3 ({', '.join(f'{x:.2f}' for x in read_runs)}), "
              f"{read_rows:,} rows; every row: {full_read:.2f} s, {full_read_rows:,} rows. The rest of a load step "
              f"is validation, the merge into the stored orders by order_id and raw.landing_files' recount.")
    page.section("Check: the increment stores what a full reload stores")
    page.table(["after", "raw.orders rows", "checksum (sum of hash of the contract columns)", "raw.rejected_orders rows"], [
        [last["label"], f"{last['orders']:,}", last["checksum"], f"{last['rejected']:,}"],
        [reload["label"], f"{reload['orders']:,}", reload["checksum"], f"{reload['rejected']:,}"],
    ])
    page.text(f"Equal: **{'yes' if same else 'NO'}**.")
    page.section("Where the whole graph's time goes")
    page.table(["run", "slowest steps (step stats, s)"], [[r["label"], slowest(r["steps"])] for r in runs])
    page.text(f"Filling the table took {fill_seconds:.1f} s (generate_series, primary key, index, VACUUM ANALYZE) "
              f"and each day's changes {', '.join(f'{x:.1f}' for x in change_seconds)} s; none of it is in the "
              f"figures above.")
    page.write(args.markdown)


if __name__ == "__main__":
    main()
