"""Print each account's segments as the issue-15 checks read them, from a warehouse.

Usage: .venv/bin/python scripts/segment_report.py [--warehouse PATH] [--account A]...

Per account: every shipped segment of ``sql/marts/segments.yaml`` with its members and
share of the account (an empty segment shows 0), the largest segment other than the grid
(target: <= 60%), the purchase x churn grid as a table of shares (rows: purchase
probability band, columns: churn band), how many cells hold >= 1% of the customers and
how many of those lie off the anti-diagonal (the cells a single dimension would leave
empty), the rank correlation of purchase and churn probability, and, where the holdout
backtest ran (``clv_evaluation_job``), ``models.evaluation_segments`` with the issue's
claims marked for segments of at least 30 members.
Reads the warehouse read-only (default: ``CLV_WAREHOUSE``, else ``data/warehouse.duckdb``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
import pandas as pd

from clv_assets.lib.segments import load_segments
from clv_assets.stats.bands import PROBABILITY_LABELS

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
    cells = (
        grid.pivot_table(index="purchase", columns="churn", values="n", aggfunc="sum", fill_value=0)
        .reindex(index=list(PROBABILITY_LABELS), columns=list(PROBABILITY_LABELS), fill_value=0)
        / max(customers, 1)
    )
    levels = len(PROBABILITY_LABELS)
    anti = {(PROBABILITY_LABELS[i], PROBABILITY_LABELS[levels - 1 - i]) for i in range(levels)}
    populated = [(p, c) for p in cells.index for c in cells.columns if cells.loc[p, c] >= MIN_CELL]
    rank_corr = conn.execute(
        "SELECT corr(rp, rc) FROM (SELECT rank() OVER (ORDER BY purchase_probability) AS rp, "
        "rank() OVER (ORDER BY churn_probability) AS rc FROM marts.customer_profile "
        "WHERE account = ? AND purchase_probability IS NOT NULL)", [account]
    ).fetchone()[0]
    model = conn.execute(
        "SELECT any_value(model), any_value(method) FROM models.fits WHERE account = ? AND model <> 'gamma_gamma'",
        [account],
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
        "cells": cells,
        "cells_populated": len(populated),
        "cells_off_anti_diagonal": len([cell for cell in populated if cell not in anti]),
        "share_off_anti_diagonal": float(sum(cells.loc[p, c] for p in cells.index for c in cells.columns if (p, c) not in anti)),
        "rank_corr": rank_corr,
        "lift": lift,
    }


def claims(lift: pd.DataFrame) -> list[str]:
    """The issue's claims on a lift table, where the segment has >= 30 members."""
    out = []
    for segment, (figure, direction) in CLAIMS.items():
        row = lift[lift.segment == segment]
        if row.empty or row.members.iloc[0] < MIN_MEMBERS:
            out.append(f"{segment}: {figure} not claimed (fewer than {MIN_MEMBERS} members)")
            continue
        value = float(row[figure].iloc[0])
        held = value > 1 if direction == ">" else value < 1
        low, high = float(row[f"{figure}_p05"].iloc[0]), float(row[f"{figure}_p95"].iloc[0])
        out.append(f"{segment}: {figure} {value:.2f} (90% {low:.2f}-{high:.2f}) {direction} 1: {'holds' if held else 'FAILS'}")
    return out


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
    return share <= MAX_SHARE and not report["empty"] and report["cells_populated"] >= 6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("CLV_WAREHOUSE", str(ROOT / "data" / "warehouse.duckdb"))
    parser.add_argument("--warehouse", type=Path, default=Path(default))
    parser.add_argument("--account", action="append", default=[])
    args = parser.parse_args()
    if not args.warehouse.exists():
        print(f"no warehouse at {args.warehouse}", file=sys.stderr)
        return 2
    with duckdb.connect(str(args.warehouse), read_only=True) as conn:
        accounts = args.account or [
            a for (a,) in conn.execute("SELECT DISTINCT account FROM marts.customer_profile ORDER BY account").fetchall()
        ]
        results = [print_report(account_report(conn, account)) for account in accounts]
    print(f"size checks passed in {sum(results)} of {len(results)} account(s)")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
