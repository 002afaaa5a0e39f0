"""Benchmark of many accounts over two days: every account refitted, then a daily scoring run.

Issue 29's targets for many accounts: 1,000 accounts of 2,000 customers in at most 60
minutes with every account refitted, and in at most 30 minutes as a daily scoring run (the
fits younger than ``refit_every_days`` reused: no sampling). ``--markdown PATH`` writes the
figures as a page (the project's: docs/measurements/many_accounts.md).

``--accounts`` accounts of ``--customers`` customers (scripts/bench.py's generators) are
written; a first account is materialised alone (it registers the partitions and warms the
compile caches, as a daemon would have); then, each a new process as a user runs it:

- day 1: ``clv-assets materialize --workers W --refit --as-of D``: every account fitted;
- day 2: ``clv-assets materialize --workers W --as-of D+1``: the same accounts one day
  later, each fit one day old and reused.

Printed: each day's wall time, wall per account (wall / accounts) and the wall time
of 1,000 accounts at that rate (a linear extrapolation: the accounts are independent and
run two at a time in one process, or one at a time in each of ``W`` workers; the measured
count is on the page), the accounts that reused their
fits on day 2 (``models.fit_status.fit_choice``) and that nothing was sampled
(``models.fits.fitted_at`` unchanged).

    .venv/bin/python scripts/bench_daily.py [--accounts 100] [--customers 2000] [--workers 1] [--generator demo distinct]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import AS_OF_OFFSET_DAYS, GENERATORS, _done_with, _workspace, measure, write_accounts  # noqa: E402
from report_page import Page, add_markdown_option  # noqa: E402

TARGET_ACCOUNTS = 1000
TARGET_MINUTES = {"refit": 60, "scoring": 30}


def fit_facts(warehouse: str) -> tuple[dict, dict]:
    """Per account: its purchase fit's ``fit_choice`` (models.fit_status) and the time its
    stored fits were sampled (models.fits.fitted_at, the latest)."""
    import duckdb

    with duckdb.connect(warehouse, read_only=True) as conn:
        choice = dict(conn.execute(
            "SELECT account, fit_choice FROM models.fit_status WHERE model <> 'gamma_gamma'"
        ).fetchall())
        fitted = dict(conn.execute("SELECT account, max(fitted_at) FROM models.fits GROUP BY account").fetchall())
    return choice, fitted


def two_days(args, generator: str) -> tuple[list[list[str]], str]:
    """The two days on ``generator``'s accounts, in a workspace of their own: the table rows
    and the scoring day's sentence."""
    root, env = _workspace(f"clv-bench-daily-{args.accounts}x{args.customers}-{generator}-")
    cli = [str(Path(sys.executable).with_name("clv-assets")), "materialize"]
    started = time.perf_counter()
    truths = write_accounts(root / "landing", generator, n_accounts=args.accounts, n_customers=args.customers, seed=29)
    print(f"== {args.accounts} accounts x {args.customers:,} customers ({generator}), {args.workers} workers; "
          f"generated in {time.perf_counter() - started:.0f} s", flush=True)
    day1 = datetime.now(UTC).date() - timedelta(days=AS_OF_OFFSET_DAYS)
    day2 = day1 + timedelta(days=1)
    measure(cli + ["--account", truths[0]["account"], "--as-of", (day1 - timedelta(days=1)).isoformat()], env)
    days = {}
    for label, as_of, extra in (("refit", day1, ["--refit"]), ("scoring", day2, [])):
        run = measure(cli + ["--workers", str(args.workers), *extra, "--as-of", as_of.isoformat()], env, check=False)
        choice, fitted = fit_facts(env["CLV_WAREHOUSE"])
        days[label] = {"wall": run["wall"], "as_of": as_of, "choice": choice, "fitted": fitted}
        print(f"  {label} day (as of {as_of}): {run['wall']:.0f} s", flush=True)
    reused = sorted(a for a, text in days["scoring"]["choice"].items() if str(text).startswith("reused"))
    resampled = sorted(a for a, at in days["scoring"]["fitted"].items() if at != days["refit"]["fitted"].get(a))
    rows = []
    for label, day in days.items():
        per_account = day["wall"] / args.accounts
        at_target = day["wall"] * TARGET_ACCOUNTS / args.accounts / 60
        rows.append([
            f"{label}: `clv-assets materialize --workers {args.workers}{' --refit' if label == 'refit' else ''} --as-of {day['as_of']}`",
            f"{day['wall']:.0f} s", f"{per_account:.2f} s", f"{at_target:.0f} min",
            f"{TARGET_MINUTES[label]} min: **{'met' if at_target <= TARGET_MINUTES[label] else 'not met'}**",
        ])
        print("  " + " | ".join(rows[-1]))
    print(f"  scoring day: {len(reused)} of {args.accounts} accounts reused their fits; {len(resampled)} sampled anew")
    scoring = (f"Scoring day: {len(reused)} of {args.accounts} accounts reused their fits "
               f"(`models.fit_status.fit_choice`); {len(resampled)} sampled anew (`models.fits.fitted_at` changed)"
               + (f": {', '.join(resampled[:10])}" if resampled else "") + ".")
    _done_with(root, args.keep)
    return rows, scoring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1: the CLI's default, one held process running two accounts side by side)")
    parser.add_argument("--generator", nargs="+", choices=list(GENERATORS), default=["demo"],
                        help="accounts' shape (scripts/bench.py's generators): the two days on each, in a workspace of its own")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces")
    add_markdown_option(parser, "many_accounts.md")
    args = parser.parse_args()
    page = Page("Many accounts: a refit day and a scoring day", "scripts/bench_daily.py")
    page.how_to_read(f"""{args.accounts} accounts of {args.customers:,} customers per generator (scripts/bench.py's
    `GENERATORS`: `demo` is `clv-assets demo`'s shape, `distinct` many distinct histories), materialised by
    `clv-assets materialize --workers {args.workers}` as new processes on two consecutive days: the first refits every
    account, the second is a daily scoring run (each fit one day old, younger than refit_every_days 7: reused, nothing
    sampled). A first account materialised beforehand registers the partitions and warms the compile caches. The wall
    time of {TARGET_ACCOUNTS:,} accounts is this run's rate extrapolated linearly (accounts are independent; one
    process runs two side by side, the CLI's default, and `--workers N` N processes one at a time each); the targets
    are issue 29's.""")
    for generator in args.generator:
        rows, scoring = two_days(args, generator)
        page.section(f"Two days, {generator} generator")
        page.table(["day: command", f"{args.accounts} accounts", "wall per account (wall / accounts)",
                    f"{TARGET_ACCOUNTS:,} accounts at this rate", "target"], rows)
        page.text(scoring)
    page.write(args.markdown)


if __name__ == "__main__":
    main()
