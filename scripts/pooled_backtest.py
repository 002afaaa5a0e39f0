"""Backtest of the pooled prior on small accounts (README "Small accounts: the pooled prior").

Usage: .venv/bin/python scripts/pooled_backtest.py [--sizes 50 100 200] [--repeats 3]
       [--draws 300] [--sources cdnow demo]

Per source the customers are split into disjoint accounts: account 0 is the small shop,
the others are the population. CDNOW (calibration to 1997-09-30, holdout to 1998-06-30)
is split into 5 random accounts; "demo" simulates 5 accounts of the demo generator
(clv_assets.demo, each with its own BG/NBD parameters; cutoff at 2/3 of the 730-day window).
The population's own-prior BG/NBD fits make the pooled prior (clv_assets.models.pooled).
For each subsample of n customers of account 0 it compares the holdout predictions of
(a) the fit with the pooled prior, (b) the fit with the default priors, (c) the fit on all
of account 0 (the ceiling), scored by clv_assets.models.evaluation (per-customer MAE,
aggregate error, 90% predictive-interval coverage vs the mass it should hold), and prints
medians over the subsamples. Fast settings: NUTS, 2 chains x --draws draws after as many
tuning steps (fits at these sizes take seconds; compilation dominates).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
N_ACCOUNTS = 5


def histories(cust: np.ndarray, day: np.ndarray, cutoff: float, end: float) -> pd.DataFrame:
    """(frequency, recency, T, holdout_orders) per customer acquired by ``cutoff``, in days;
    orders on one day count once, as in features.rfm."""
    frame = pd.DataFrame({"cust": cust, "day": np.floor(day)}).drop_duplicates()
    frame = frame[frame.day <= end]
    calib = frame[frame.day <= cutoff].groupby("cust").day.agg(["min", "max", "count"])
    holdout = frame[frame.day > cutoff].groupby("cust").size()
    return pd.DataFrame(
        {
            "frequency": calib["count"] - 1.0,
            "recency": calib["max"] - calib["min"],
            "T": cutoff - calib["min"],
            "holdout_orders": holdout.reindex(calib.index, fill_value=0).astype(float),
        }
    ).reset_index()


def cdnow_accounts(rng: np.random.Generator) -> tuple[list[pd.DataFrame], float]:
    from clv_assets.cdnow import CUTOFF, HOLDOUT_END, cdnow_orders

    orders = cdnow_orders(ROOT / "clv_assets_tests" / "fixtures" / "cdnow" / "CDNOW_sample.txt")
    when = pd.to_datetime(orders.ordered_at)
    start = when.min().normalize()
    day = (when - start).dt.days.to_numpy(float)
    cutoff, end = (pd.Timestamp(CUTOFF) - start).days, (pd.Timestamp(HOLDOUT_END) - start).days
    customers = histories(orders.customer_id.to_numpy(), day, cutoff, end)
    groups = rng.permutation(len(customers)) % N_ACCOUNTS
    return [customers[groups == g].reset_index(drop=True) for g in range(N_ACCOUNTS)], float(end - cutoff)


def demo_accounts(rng: np.random.Generator, n_customers: int = 1500) -> tuple[list[pd.DataFrame], float]:
    from clv_assets import demo

    accounts = []
    for ss in np.random.SeedSequence(int(rng.integers(1 << 31))).spawn(N_ACCOUNTS):
        bg, gg = demo._draw_params(np.random.default_rng(ss.spawn(1)[0]))
        orders = demo._simulate_chunk(ss, n_customers, bg, gg)
        done = orders["status"] == 0
        accounts.append(histories(orders["cust"][done], orders["t"][done], demo.WINDOW_DAYS * 2 / 3, demo.WINDOW_DAYS))
    return accounts, demo.WINDOW_DAYS / 3


def fit_bgnbd(customers: pd.DataFrame, settings, priors=None) -> dict:
    from clv_assets.models.evaluation import distinct_histories
    from clv_assets.models.fitting import fit
    from clv_assets.models.registry import PURCHASE_MODELS

    rows, _ = distinct_histories(customers)
    posterior = fit(PURCHASE_MODELS["bgnbd"], rows, settings, priors=priors)
    return {k: v.reshape(-1) for k, v in posterior.draws.items()}


def scored(draws: dict, customers: pd.DataFrame, holdout_days: float) -> dict:
    from clv_assets.models.evaluation import distinct_histories, predictive_summary, score

    rows, inverse = distinct_histories(customers)
    summary = predictive_summary("bgnbd", draws, rows, holdout_days).iloc[inverse].reset_index(drop=True)
    figures, _ = score(summary, customers.assign(holdout_spend=0.0), np.full(len(customers), np.nan))
    return {k: figures[k] for k in ("mae_orders", "aggregate_error_pct", "interval_coverage", "interval_expected_coverage")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--sources", nargs="+", default=["cdnow", "demo"], choices=["cdnow", "demo"])
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from clv_assets.models.specs import FitSettings
    from clv_assets.models.pooled import account_summary, fit_population, pooled_priors

    settings = FitSettings(method="mcmc", draws=args.draws, tune=args.draws, chains=2, random_seed=args.seed)
    rng = np.random.default_rng(args.seed)
    records = []
    for source in args.sources:
        accounts, holdout_days = cdnow_accounts(rng) if source == "cdnow" else demo_accounts(rng)
        small, others = accounts[0], accounts[1:]
        summaries = [
            account_summary(fit_bgnbd(a, settings), ("r", "alpha", "phi_dropout", "kappa_dropout")).assign(account=i)
            for i, a in enumerate(others)
        ]
        population = fit_population(pd.concat(summaries))
        print(f"{source}: pooled prior from {len(others)} accounts\n{population.round(3).to_string(index=False)}", flush=True)
        priors = pooled_priors(population)
        ceiling = fit_bgnbd(small, settings)
        for n in args.sizes:
            for repeat in range(args.repeats):
                sample = small.sample(n=min(n, len(small)), random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
                for label, draws in (
                    ("pooled", fit_bgnbd(sample, settings, priors)),
                    ("own", fit_bgnbd(sample, settings)),
                    ("ceiling", ceiling),
                ):
                    records.append({"source": source, "n": n, "repeat": repeat, "fit": label, **scored(draws, sample, holdout_days)})
                    print(records[-1], flush=True)
    table = pd.DataFrame(records).groupby(["source", "n", "fit"]).median(numeric_only=True).drop(columns="repeat")
    table["coverage_gap_points"] = (table.interval_coverage - table.interval_expected_coverage) * 100
    print(table.round(3).to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
