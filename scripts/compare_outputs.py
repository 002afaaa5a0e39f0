"""Compare one account's tables in two warehouse files: equal up to floating-point
summation order, run times and run facts aside.

A performance change must leave the outputs as they were (issue 29): materialise an
account before and after the change with the same ``--as-of`` (and ``--refit``, so both
fit; fits by Laplace are deterministic given the data), then

    .venv/bin/python scripts/compare_outputs.py BEFORE.duckdb AFTER.duckdb --account A

Rows are matched after sorting both sides by every column that is not a float (and then
by the floats); floats are compared with a relative tolerance. Exits 1 when any table
differs, printing what differs.
"""

from __future__ import annotations

import argparse
import re
import sys

import duckdb
import numpy as np
import pandas as pd

# per-account tables of the account job, in graph order
TABLES = (
    "raw.orders", "raw.rejected_orders", "staging.customer_transactions", "features.rfm",
    "features.customer_covariates", "predictions.customer_channels", "predictions.account_channels",
    "models.fits", "predictions.customers", "predictions.account_draws", "bands.thresholds", "bands.customers",
    "marts.customer_profile", "marts.customer_segments", "marts.segment_history", "marts.segment_changes",
    "marts.segment_members", "marts.segment_sizes", "marts.band_distribution", "marts.account_summary",
)
# what differs from run to run by design: wall-clock times, run ids, durations, files' load facts
VOLATILE = re.compile(r"(_at|_seconds|seconds|run_id|load_id|source_file|_time)$")


def _frame(conn: duckdb.DuckDBPyConnection, db: str, table: str, account: str, columns: list[str], nested: set[str]) -> pd.DataFrame:
    # lists and structs compared as their text
    quoted = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in nested else f'"{c}"' for c in columns)
    return conn.execute(f"SELECT {quoted} FROM {db}.{table} WHERE account = $a ORDER BY ALL", {"a": account}).df()


def compare_table(conn, table: str, account: str, rtol: float) -> list[str]:
    types = {}
    for db in ("before", "after"):
        rows = conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = $d AND schema_name = $s "
            "AND table_name = $t ORDER BY column_index",
            {"d": db, "s": table.split(".")[0], "t": table.split(".")[1]},
        ).fetchall()
        types[db] = dict(rows)
    if not types["before"] or not types["after"]:
        return [f"{table}: missing in {'before' if not types['before'] else 'after'}"] if types["before"] or types["after"] else []
    problems = []
    if list(types["before"]) != list(types["after"]):
        problems.append(f"{table}: columns differ: {list(types['before'])} vs {list(types['after'])}")
    columns = [c for c in types["before"] if c in types["after"] and not VOLATILE.search(c)]
    changed = [c for c in columns if types["before"][c] != types["after"][c]]
    if changed:
        problems.append(f"{table}: types differ: " + ", ".join(f"{c} {types['before'][c]} -> {types['after'][c]}" for c in changed))
    floats = [c for c in columns if types["before"][c] in ("DOUBLE", "FLOAT")]
    # floats last in the sort: rows are matched by their other columns first
    order = [c for c in columns if c not in floats] + floats
    float_lists = {c for c in columns if types["before"][c] in ("DOUBLE[]", "FLOAT[]")}
    nested = {c for c in columns if c not in float_lists
              and (types["before"][c].endswith("]") or types["before"][c].startswith(("STRUCT", "MAP")))}
    before, after = (_frame(conn, db, table, account, order, nested) for db in ("before", "after"))
    if len(before) != len(after):
        return problems + [f"{table}: {len(before)} rows before, {len(after)} after"]
    for column in order:
        a, b = before[column], after[column]
        if column in floats:
            x, y = a.to_numpy(float), b.to_numpy(float)
            bad = ~(np.isclose(x, y, rtol=rtol, atol=1e-12) | (np.isnan(x) & np.isnan(y)))
        elif column in float_lists:
            bad = np.array([
                not (u is None and v is None) and (u is None or v is None or len(u) != len(v)
                                                   or not np.allclose(np.asarray(u, float), np.asarray(v, float), rtol=rtol, equal_nan=True))
                for u, v in zip(a, b, strict=True)
            ], bool)
        else:
            bad = ~((a == b) | (a.isna() & b.isna())).to_numpy(bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            problems.append(f"{table}.{column}: {int(bad.sum())} of {len(a)} rows differ, e.g. {a.iloc[i]!r} vs {b.iloc[i]!r}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--account", required=True)
    parser.add_argument("--rtol", type=float, default=1e-9)
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    args = parser.parse_args()
    conn = duckdb.connect()
    conn.execute(f"ATTACH '{args.before}' AS before (READ_ONLY)")
    conn.execute(f"ATTACH '{args.after}' AS after (READ_ONLY)")
    problems = []
    for table in args.tables:
        found = compare_table(conn, table, args.account, args.rtol)
        print(f"{table:<34} {'equal' if not found else 'DIFFERS'}", flush=True)
        problems += found
    for line in problems:
        print("  " + line)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
