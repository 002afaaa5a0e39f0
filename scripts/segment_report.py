"""Print each account's segments as the issue-15 checks read them, from a warehouse.

Usage: .venv/bin/python scripts/segment_report.py [--warehouse PATH] [--account A]...
       .venv/bin/python scripts/segment_report.py --generate [--customers 2000] [--no-backtest] [--markdown PATH]

Per account: every shipped segment of ``sql/marts/segments.yaml`` with its members and
share of the account (an empty segment shows 0), the largest segment other than the grid
(target: <= 60%), the purchase x churn grid as a table of shares (rows: purchase
probability band, columns: churn band), how many cells hold >= 1% of the customers and
how many of those lie off the anti-diagonal (the cells a single dimension would leave
empty), the rank correlation of purchase and churn probability, and, where the holdout
backtest ran (``clv_evaluation_job``), ``models.evaluation_segments`` with the issue's
claims marked for segments of at least 30 members.
Reads the warehouse read-only (default: ``CLV_WAREHOUSE``, else ``data/warehouse.duckdb``).

``--generate`` builds the accounts first, in a temporary workspace, as a user would: the
demo's three accounts (``clv-assets demo``, 2,000 customers each), the two accounts of
``scripts/other_accounts.py`` (pareto-mix, seasonal-gifts; as of 2026-11-01) and the CDNOW
sample (as of 1998-06-30), each ``clv-assets materialize`` on default settings, then
``clv_evaluation_job`` per account on its default config (CDNOW: calibration to 1997-09-30,
as its scorecard) unless ``--no-backtest``. ``--markdown PATH`` also writes the figures as a
page headed by the command, commit, date and machine (the project's page:
docs/measurements/segments.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_page import Page, add_markdown_option, fmt, method_label  # noqa: E402

from clv_assets.lib.segments import load_segments  # noqa: E402
from clv_assets.stats.bands import PROBABILITY_LABELS  # noqa: E402
from clv_assets.stats.registry import GAMMA_GAMMA  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRID = "purchase_churn_grid"
MAX_SHARE = 0.60
MIN_CELL = 0.01
MIN_MEMBERS = 30
# the lift claims: segment -> (figure, direction)
CLAIMS = {
    "one_time_buyers_likely_to_repeat": ("order_rate_lift", ">"),
    "vip": ("spend_lift", ">"),
    "future_vip": ("spend_lift", ">"),
    "at_risk": ("order_rate_lift", "<"),
}
# --generate: the accounts of the README's tables and the as-of date of each group
CDNOW_ACCOUNT = "cdnow"
OTHER_ACCOUNTS_END = "2026-11-01"
CDNOW_AS_OF = "1998-06-30"


def _has_table(conn, schema: str, table: str) -> bool:
    query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
    return conn.execute(query, [schema, table]).fetchone()[0] > 0


def account_report(conn, account: str) -> dict:
    """Segment sizes, grid and (if backtested) lift of one account, as data frames and figures."""
    segments = [s.name for s in load_segments()]
    customers, as_of = conn.execute(
        "SELECT count(*), max(as_of) FROM marts.customer_profile WHERE account = ?", [account]
    ).fetchone()
    sizes = conn.execute(
        "SELECT segment, count(DISTINCT customer_id) AS members FROM marts.customer_segments "
        "WHERE account = ? GROUP BY segment", [account]
    ).df().set_index("segment").reindex(segments, fill_value=0)
    sizes["share"] = sizes.members / customers if customers else 0.0
    grid = conn.execute(
        "SELECT purchase_probability_band AS purchase, churn_band AS churn, count(*) AS n, "
        "corr(purchase_probability, churn_probability) AS r "
        "FROM marts.customer_profile WHERE account = ? AND purchase_probability_band IS NOT NULL "
        "AND churn_band IS NOT NULL GROUP BY ALL", [account]
    ).df()
    counts = (
        grid.pivot_table(index="purchase", columns="churn", values="n", aggfunc="sum", fill_value=0)
        .reindex(index=list(PROBABILITY_LABELS), columns=list(PROBABILITY_LABELS), fill_value=0)
    )
    cells = counts / max(customers, 1)
    levels = len(PROBABILITY_LABELS)
    anti = {(PROBABILITY_LABELS[i], PROBABILITY_LABELS[levels - 1 - i]) for i in range(levels)}
    populated = [(p, c) for p in cells.index for c in cells.columns if cells.loc[p, c] >= MIN_CELL]
    rank_corr = conn.execute(
        "SELECT corr(rp, rc) FROM (SELECT rank() OVER (ORDER BY purchase_probability) AS rp, "
        "rank() OVER (ORDER BY churn_probability) AS rc FROM marts.customer_profile "
        "WHERE account = ? AND purchase_probability IS NOT NULL)", [account]
    ).fetchone()[0]
    model = conn.execute(
        "SELECT any_value(model), any_value(method) FROM models.fits WHERE account = ? AND model <> ?",
        [account, GAMMA_GAMMA.name],
    ).fetchone() if _has_table(conn, "models", "fits") else (None, None)
    lift = None
    if _has_table(conn, "models", "evaluation_segments"):
        lift = conn.execute(
            "SELECT segment, members, comparison_customers, member_share_ordered, comparison_share_ordered, "
            "order_rate_lift, order_rate_lift_p05, order_rate_lift_p95, member_mean_spend, comparison_mean_spend, "
            "spend_lift, spend_lift_p05, spend_lift_p95, purchase_model, cutoff "
            "FROM models.evaluation_segments WHERE account = ? ORDER BY segment", [account]
        ).df()
        lift = None if lift.empty else lift
    non_grid = sizes.drop(index=GRID, errors="ignore")
    return {
        "account": account,
        "as_of": as_of,
        "customers": customers,
        "model": model,
        "sizes": sizes,
        "largest": (non_grid.share.idxmax(), float(non_grid.share.max())) if customers else (None, 0.0),
        "empty": [s for s in non_grid.index if non_grid.members[s] == 0],
        "counts": counts,
        "cells": cells,
        "cells_populated": len(populated),
        "cells_off_anti_diagonal": len([cell for cell in populated if cell not in anti]),
        "share_off_anti_diagonal": float(sum(cells.loc[p, c] for p in cells.index for c in cells.columns if (p, c) not in anti)),
        "rank_corr": rank_corr,
        "lift": lift,
    }


def claim(lift: pd.DataFrame, segment: str) -> tuple[str, bool | None]:
    """One of the issue's claims on a lift table: its text and whether it holds (None: not
    claimed, fewer than 30 members)."""
    figure, direction = CLAIMS[segment]
    row = lift[lift.segment == segment]
    if row.empty or row.members.iloc[0] < MIN_MEMBERS:
        return f"{figure} not claimed (fewer than {MIN_MEMBERS} members)", None
    value = float(row[figure].iloc[0])
    held = value > 1 if direction == ">" else value < 1
    low, high = float(row[f"{figure}_p05"].iloc[0]), float(row[f"{figure}_p95"].iloc[0])
    return f"{figure} {value:.2f} (90% {low:.2f}-{high:.2f}) {direction} 1: {'holds' if held else 'FAILS'}", held


def claims(lift: pd.DataFrame) -> list[str]:
    """The issue's claims on a lift table, where the segment has >= 30 members."""
    return [f"{segment}: {claim(lift, segment)[0]}" for segment in CLAIMS]


def sizes_pass(report: dict) -> bool:
    """The issue's size checks: no segment but the grid over 60%, none empty, >= 6 grid cells of >= 1%."""
    return report["largest"][1] <= MAX_SHARE and not report["empty"] and report["cells_populated"] >= 6


def print_report(report: dict) -> bool:
    """Print one account's report; True if the issue's size checks pass."""
    model, method = report["model"]
    print(f"## {report['account']}: {report['customers']:,} customers, as of {report['as_of']}, {model} by {method}")
    sizes = report["sizes"].assign(share=lambda d: (100 * d.share).round(1))
    print(sizes.rename(columns={"share": "share %"}).to_string())
    name, share = report["largest"]
    print(f"largest non-grid segment: {name} {100 * share:.1f}% ({'ok' if share <= MAX_SHARE else 'OVER 60%'})")
    print(f"empty segments: {', '.join(report['empty']) or 'none'}")
    print("grid, % of customers (rows: purchase probability band, columns: churn band):")
    print((100 * report["cells"]).round(1).to_string())
    print(
        f"cells >= 1%: {report['cells_populated']} (target >= 6), of which off the anti-diagonal: "
        f"{report['cells_off_anti_diagonal']}; customers off the anti-diagonal: {100 * report['share_off_anti_diagonal']:.1f}%; "
        f"rank correlation of purchase and churn probability: {report['rank_corr']:.3f}"
    )
    if report["lift"] is not None:
        lift = report["lift"]
        print(f"segment lift (holdout after {lift.cutoff.iloc[0]:%Y-%m-%d}, {lift.purchase_model.iloc[0]}):")
        shown = lift.drop(columns=["purchase_model", "cutoff"]).set_index("segment")
        print(shown.round(3).to_string())
        for line in claims(lift):
            print(f"  {line}")
    print()
    return sizes_pass(report)


def _interval(row, figure: str) -> str:
    if row[figure] != row[figure]:
        return "-"
    return f"{row[figure]:.2f} ({fmt(row[f'{figure}_p05'], '.2f', 'n/a')}-{fmt(row[f'{figure}_p95'], '.2f', 'n/a')})"


def write_page(page: Page, reports: list[dict], args) -> None:
    """Sizes of every account side by side, their grids, then the lift and the claims."""
    from clv_assets.stats.registry import PURCHASE_MODELS

    label = lambda name: PURCHASE_MODELS[name].label if name in PURCHASE_MODELS else (name or "-")  # noqa: E731
    page.how_to_read(
        "Sizes are of the accounts as materialised (marts.customer_segments): members and share of the account; "
        f"the issue's checks are that every shipped segment has members, none but the grid holds more than "
        f"{MAX_SHARE:.0%} of an account, and the purchase x churn grid has at least 6 cells of >= {MIN_CELL:.0%}. "
        "Cells off the anti-diagonal are those a single dimension would leave empty. The lift is from the holdout "
        "backtest (models.evaluation_segments: segments as of the backtest's cutoff under the chosen model, "
        "members / comparison group on the holdout, 90% Poisson-bootstrap intervals); a claim is judged on the "
        f"point estimate for segments of at least {MIN_MEMBERS} members."
    )
    if args.generate:
        page.text(f"Accounts generated by this command: the demo's ({args.customers:,} customers each, as of the run "
                  f"date), `scripts/other_accounts.py`'s ({args.customers:,} each, as of {OTHER_ACCOUNTS_END}) and the "
                  f"CDNOW sample (as of {CDNOW_AS_OF}), `clv-assets materialize` on default settings.")
    page.section("Segment sizes")
    heads = [f"{r['account']} ({r['customers']:,})" for r in reports]
    rows = [[f"`{segment}`", *(f"{r['sizes'].members[segment]:,} ({100 * r['sizes'].share[segment]:.1f}%)" for r in reports)]
            for segment in reports[0]["sizes"].index if segment != GRID]
    rows += [
        ["largest non-grid segment", *(f"{100 * r['largest'][1]:.1f}%" for r in reports)],
        ["grid cells >= 1% (off the anti-diagonal)", *(f"{r['cells_populated']} ({r['cells_off_anti_diagonal']})" for r in reports)],
        ["customers off the anti-diagonal", *(f"{100 * r['share_off_anti_diagonal']:.1f}%" for r in reports)],
        ["rank correlation, purchase vs churn probability", *(fmt(r["rank_corr"], ".2f") for r in reports)],
        ["size checks", *("**pass**" if sizes_pass(r) else "**FAIL**" for r in reports)],
        ["as of", *(str(r["as_of"]) for r in reports)],
        ["purchase model (fit)", *(f"{label(r['model'][0])} ({method_label(r['model'][1])})" for r in reports)],
    ]
    page.table(["segment", *heads], rows)

    page.section("Purchase x churn grid (customers; rows: purchase probability band, columns: churn band)")
    for r in reports:
        page.text(f"**{r['account']}**")
        page.table(["purchase \\ churn", *r["counts"].columns],
                   [[band, *(f"{int(n):,}" for n in r["counts"].loc[band])] for band in r["counts"].index])

    lifted = [r for r in reports if r["lift"] is not None]
    if not lifted:
        return
    page.section("Segment lift on the holdout and the issue's claims")
    page.table(
        ["claim", *(r["account"] for r in lifted)],
        [[f"`{segment}` {figure} {direction} 1", *(
            f"{_interval(r['lift'][r['lift'].segment == segment].iloc[0], figure)}: "
            + {True: "**holds**", False: "**FAILS**", None: "not claimed"}[claim(r["lift"], segment)[1]]
            if (r["lift"].segment == segment).any() else "-" for r in lifted)]
         for segment, (figure, direction) in CLAIMS.items()],
    )
    order = [s.name for s in load_segments()]
    rows = []
    for r in lifted:
        lift = r["lift"]
        lift = lift.assign(_o=[order.index(s) if s in order else len(order) for s in lift.segment]).sort_values("_o")
        for _, row in lift.iterrows():
            some = row.members and row.comparison_customers
            rows.append([
                r["account"], f"{row.cutoff:%Y-%m-%d}", label(row.purchase_model), f"`{row.segment}`",
                f"{row.members:,}", f"{row.comparison_customers:,}",
                f"{100 * row.member_share_ordered:.1f}% / {100 * row.comparison_share_ordered:.1f}%" if some else "-",
                _interval(row, "order_rate_lift"),
                f"{row.member_mean_spend:.2f} / {row.comparison_mean_spend:.2f}" if some else "-",
                _interval(row, "spend_lift"),
            ])
    page.table(["account", "cutoff", "model", "segment", "members", "comparison", "share ordered: members / comparison",
                "order-rate lift (90%)", "mean holdout spend: members / comparison", "spend lift (90%)"], rows)


def generate(root: Path, customers: int, backtest: bool) -> Path:
    """The README's accounts in ``root`` (landing, warehouse, Dagster home), materialised as
    a user would, then backtested; returns the warehouse."""
    env = {**os.environ, "CLV_LANDING_DIR": str(root / "landing"), "CLV_WAREHOUSE": str(root / "warehouse.duckdb"),
           "DAGSTER_HOME": str(root / "dagster_home")}
    cli = str(Path(sys.executable).with_name("clv-assets"))

    def run(*argv: str) -> None:
        started = time.perf_counter()
        subprocess.run(list(argv), env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"  {' '.join(Path(a).name if i < 2 else a for i, a in enumerate(argv))}: {time.perf_counter() - started:.0f} s",
              flush=True)

    from clv_assets.cdnow import cdnow_orders
    from clv_assets.demo import ACCOUNT_NAMES

    run(cli, "demo", "--customers", str(customers))
    demo = [name for name in ACCOUNT_NAMES if (root / "landing" / name).is_dir()]
    run(sys.executable, str(ROOT / "scripts" / "other_accounts.py"), str(root / "landing"), "--customers", str(customers),
        "--end", OTHER_ACCOUNTS_END)
    (root / "landing" / CDNOW_ACCOUNT).mkdir()
    cdnow_orders(ROOT / "clv_assets_tests" / "fixtures" / "cdnow" / "CDNOW_sample.txt").to_csv(
        root / "landing" / CDNOW_ACCOUNT / "orders.csv", index=False)
    sys.path.insert(0, str(ROOT / "scripts"))
    from other_accounts import GENERATORS

    run(cli, "materialize", *(a for name in demo for a in ("--account", name)))
    run(cli, "materialize", *(a for name in GENERATORS for a in ("--account", name)), "--as-of", OTHER_ACCOUNTS_END)
    run(cli, "materialize", "--account", CDNOW_ACCOUNT, "--as-of", CDNOW_AS_OF)
    if backtest:
        for account in [*demo, *GENERATORS, CDNOW_ACCOUNT]:
            run(sys.executable, str(Path(__file__).resolve()), "--child-backtest", account, "--warehouse", env["CLV_WAREHOUSE"])
    return Path(env["CLV_WAREHOUSE"])


def child_backtest(account: str, warehouse: Path) -> int:
    """``clv_evaluation_job`` of one account on its default config (CDNOW: the scorecard's
    calibration weeks), in this process, on the instance of ``DAGSTER_HOME``."""
    import warnings

    warnings.filterwarnings("ignore")
    import dagster as dg

    from clv_assets.cdnow import evaluation_run_config
    from clv_assets.definitions import build_defs
    from clv_assets.lib.keys import EVALUATION_JOB

    run_config = evaluation_run_config() if account == CDNOW_ACCOUNT else {}
    run_config["loggers"] = {"console": {"config": {"log_level": "CRITICAL"}}}
    job = build_defs(warehouse=warehouse).resolve_job_def(EVALUATION_JOB)
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), partition_key=account, run_config=run_config,
                                    raise_on_error=False)
    return 0 if result.success else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("CLV_WAREHOUSE", str(ROOT / "data" / "warehouse.duckdb"))
    parser.add_argument("--warehouse", type=Path, default=Path(default))
    parser.add_argument("--account", action="append", default=[])
    parser.add_argument("--generate", action="store_true", help="build the README's six accounts first (see above)")
    parser.add_argument("--customers", type=int, default=2000, help="with --generate: customers per generated account")
    parser.add_argument("--no-backtest", action="store_true", help="with --generate: sizes only, no clv_evaluation_job")
    parser.add_argument("--child-backtest", help=argparse.SUPPRESS)
    add_markdown_option(parser, "segments.md")
    args = parser.parse_args()
    if args.child_backtest:
        return child_backtest(args.child_backtest, args.warehouse)
    page = Page("Segments: sizes and lift", "scripts/segment_report.py")
    with tempfile.TemporaryDirectory(prefix="clv-segments-") as tmp:
        if args.generate:
            print(f"generating the accounts in {tmp}", flush=True)
            args.warehouse = generate(Path(tmp), args.customers, not args.no_backtest)
        if not args.warehouse.exists():
            print(f"no warehouse at {args.warehouse}", file=sys.stderr)
            return 2
        with duckdb.connect(str(args.warehouse), read_only=True) as conn:
            accounts = args.account or [
                a for (a,) in conn.execute("SELECT DISTINCT account FROM marts.customer_profile ORDER BY account").fetchall()
            ]
            reports = [account_report(conn, account) for account in accounts]
    results = [print_report(report) for report in reports]
    print(f"size checks passed in {sum(results)} of {len(results)} account(s)")
    if reports:
        write_page(page, reports, args)
        page.text(f"Size checks passed in {sum(results)} of {len(results)} account(s).")
        page.write(args.markdown)
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
