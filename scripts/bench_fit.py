"""Seconds per fit, first (compiles) vs reused (swaps the data), in one process.

Usage: .venv/bin/python scripts/bench_fit.py [--nuts-customers 5000] [--laplace-customers 200000] [--model bgnbd]

A purchase model of the registry (default BG/NBD) by NUTS on three simulated BG/NBD
accounts of --nuts-customers, then by Laplace on three of --laplace-customers (distinct
rows printed).
"""

from __future__ import annotations

import argparse
import time
import warnings

from clv_assets.demo import simulate_bgnbd_histories
from clv_assets.stats.registry import DEFAULT_PURCHASE_MODEL, PURCHASE_MODELS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nuts-customers", type=int, default=5_000)
    parser.add_argument("--laplace-customers", type=int, default=200_000)
    parser.add_argument("--model", choices=list(PURCHASE_MODELS), default=DEFAULT_PURCHASE_MODEL)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from clv_assets.stats.fitting import fit
    from clv_assets.stats.specs import FitSettings

    model = PURCHASE_MODELS[args.model]

    for method, customers in (("mcmc", args.nuts_customers), ("laplace", args.laplace_customers)):
        for label, seed in (("first (compiles)", 1), ("second account (reused)", 2), ("third account (reused)", 3)):
            rows = simulate_bgnbd_histories(customers, seed)
            started = time.perf_counter()
            fit(model, rows, FitSettings(method=method))
            print(f"{method:8s} {customers:>8,} customers {len(rows):>8,} distinct rows  {label:24s} {time.perf_counter() - started:6.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
