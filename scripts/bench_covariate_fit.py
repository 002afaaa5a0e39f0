"""Benchmark: the covariate purchase model's fit at a large account's size.

    .venv/bin/python scripts/bench_covariate_fit.py [--customers 1000000] [--seed 1]

Prints figures; it is not a test. Simulates customers whose first order's channel and value
drive the purchase rate and the dropout (``clv_assets_tests/stats/test_bgnbd_covariates.py``'s
generator, truth known; days whole, as in features.rfm), counts the distinct rows with and
without the covariate level, fits ``bgnbd_covariates`` with ``method: auto`` twice in one
process (the first builds the compiled model, the second swaps the data, as a warm worker
does) and prints each effect's 90% interval against the truth.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from clv_assets.stats.fitting import fit
    from clv_assets.stats.purchase.bgnbd_covariates import BGNBD_COVARIATES, COVARIATES, HISTORY, distinct_rows
    from clv_assets.stats.specs import FitSettings
    from clv_assets_tests.stats.test_bgnbd_covariates import EFFECTS, simulate_account

    customers = simulate_account(EFFECTS, n=args.customers, seed=args.seed)
    customers["recency"], customers["T"] = np.floor(customers["recency"]), np.floor(customers["T"])
    rows = distinct_rows(customers[[*HISTORY, *COVARIATES]])
    plain = customers.groupby(list(HISTORY)).ngroups
    print(f"{len(customers):,} customers: {plain:,} distinct (frequency, recency, T) rows, "
          f"{len(rows):,} with the covariate level ({len(rows) / plain:.1f}x)")
    for attempt in ("first fit in the process (builds the model)", "second fit (compiled)"):
        posterior = fit(BGNBD_COVARIATES, rows, FitSettings(method="auto"))
        print(f"{attempt}: {posterior.method}, {posterior.seconds:.1f} s")
    table = BGNBD_COVARIATES.effects(posterior.draws)
    table["truth"] = np.concatenate([EFFECTS[name] for name in BGNBD_COVARIATES.coefficients])
    table["inside"] = (table.low <= table.truth) & (table.truth <= table.high)
    print(table[["coefficient", "covariate", "mean", "low", "high", "truth", "inside"]].round(3).to_string(index=False))
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in __import__('os').getloadavg())}")


if __name__ == "__main__":
    main()
