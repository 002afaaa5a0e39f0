"""Backtest of the pooled prior on small accounts (README "Small accounts: the pooled prior").

Usage: .venv/bin/python scripts/pooled_backtest.py [--sizes 50 100 200] [--repeats 4]
       [--draws 300] [--sources cdnow demo pareto-mix seasonal-gifts] [--population same|demo|auto]
       [--markdown PATH]

Per source the customers are split into 5 disjoint accounts; each in turn is the small shop
(leave one out: one account's luck, an outlier or not, does not decide the table), the others
are the population. CDNOW (calibration to 1997-09-30, holdout to 1998-06-30)
is split into 5 random accounts; "demo" simulates 5 accounts of the demo generator
(clv_assets.demo, each with its own BG/NBD parameters; cutoff at 2/3 of the 730-day window);
"pareto-mix" and "seasonal-gifts" simulate 5 accounts of the independent generators of
scripts/other_accounts.py (3 years 3 months of orders, the last 365 days the holdout).
The population's own-prior BG/NBD fits make the pooled prior (clv_assets.stats.pooled):
with ``--population same`` the other accounts of the source, with ``--population demo``
5 demo accounts (a small shop of another generator than the accounts it pools from), with
``--population auto`` the source's own for cdnow and demo and demo accounts for the other
generators (every source in one command, as the project's page has them).
For each subsample of n customers of the small account it compares the holdout predictions of
(a) the fit with the pooled prior, (b) the fit with the default priors, (c) the fit on all
of the small account (the ceiling), scored by clv_assets.stats.evaluation (per-customer MAE,
aggregate error, 90% predictive-interval coverage vs the mass it should hold), and prints
medians over the subsamples. Fast settings: NUTS, 2 chains x --draws draws after as many
tuning steps (fits at these sizes take seconds; compilation dominates). ``--markdown PATH``
also writes the table as a page headed by the command, commit, date and machine (the
project's page: docs/measurements/pooled_prior.md).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_page import Page, add_markdown_option, duration  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_ACCOUNTS = 5
# --population auto: the sources whose own other accounts make the pooled prior
OWN_POPULATION = ("cdnow", "demo")


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


def other_accounts(name: str, rng: np.random.Generator, n_customers: int = 1500) -> tuple[list[pd.DataFrame], float]:
    """5 accounts of a generator of scripts/other_accounts.py; holdout the last 365 days."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from other_accounts import GENERATORS

    end = date(2026, 11, 1)
    start = end - timedelta(days=3 * 365 + 90)
    span, holdout = float((end - start).days), 365.0
    accounts = []
    for _ in range(N_ACCOUNTS):
        orders = GENERATORS[name](np.random.default_rng(int(rng.integers(1 << 31))), n_customers, start, end)
        day = (pd.to_datetime(orders.ordered_at) - pd.Timestamp(start)).dt.total_seconds().to_numpy() / 86_400
        accounts.append(histories(orders.customer_id.to_numpy(), day, span - holdout, span))
    return accounts, holdout


def source_accounts(source: str, rng: np.random.Generator) -> tuple[list[pd.DataFrame], float]:
    if source == "cdnow":
        return cdnow_accounts(rng)
    if source == "demo":
        return demo_accounts(rng)
    return other_accounts(source, rng)


def fit_bgnbd(customers: pd.DataFrame, settings, priors=None) -> dict:
    from clv_assets.stats.evaluation.backtest import distinct_histories
    from clv_assets.stats.fitting import fit
    from clv_assets.stats.registry import PURCHASE_MODELS

    rows, _ = distinct_histories(customers)
    posterior = fit(PURCHASE_MODELS["bgnbd"], rows, settings, priors=priors)
    return {k: v.reshape(-1) for k, v in posterior.draws.items()}


def scored(draws: dict, customers: pd.DataFrame, holdout_days: float) -> dict:
    from clv_assets.stats.evaluation.backtest import distinct_histories, predictive_summary
    from clv_assets.stats.evaluation.metrics import score

    rows, inverse = distinct_histories(customers)
    summary = predictive_summary("bgnbd", draws, rows, holdout_days).iloc[inverse].reset_index(drop=True)
    figures, _ = score(summary, customers.assign(holdout_spend=0.0), np.full(len(customers), np.nan))
    return {k: figures[k] for k in ("mae_orders", "aggregate_error_pct", "interval_coverage", "interval_expected_coverage")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--repeats", type=int, default=4, help="subsamples per size of each account (each of the 5 is the small one in turn)")
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--sources", nargs="+", default=["cdnow", "demo"], choices=["cdnow", "demo", "pareto-mix", "seasonal-gifts"])
    parser.add_argument("--population", default="same", choices=["same", "demo", "auto"],
                        help="the pooled accounts: the source's others, demo accounts, or auto (same for cdnow and demo, demo for the others)")
    parser.add_argument("--seed", type=int, default=2026)
    add_markdown_option(parser, "pooled_prior.md")
    args = parser.parse_args()
    page = Page("Small accounts: pooled prior backtest", "scripts/pooled_backtest.py")
    warnings.filterwarnings("ignore")
    from clv_assets.stats.pooled import account_summary, fit_population, pooled_priors
    from clv_assets.stats.registry import PURCHASE_MODELS
    from clv_assets.stats.specs import FitSettings

    started_run = time.perf_counter()
    settings = FitSettings(method="mcmc", draws=args.draws, tune=args.draws, chains=2, random_seed=args.seed)
    rng = np.random.default_rng(args.seed)
    parameters = PURCHASE_MODELS["bgnbd"].pooled_variables
    records, seconds = [], []
    for source in args.sources:
        pooled_from = args.population if args.population != "auto" else ("same" if source in OWN_POPULATION else "demo")
        accounts, holdout_days = source_accounts(source, rng)
        full = [fit_bgnbd(a, settings) for a in accounts]  # each account's ceiling and its population entry
        demo_fits = [fit_bgnbd(a, settings) for a in demo_accounts(rng)[0]] if pooled_from == "demo" else None
        for k, small in enumerate(accounts):  # every account is the small shop in turn
            pool = demo_fits if demo_fits is not None else [f for j, f in enumerate(full) if j != k]
            population = fit_population(pd.concat([account_summary(f, parameters).assign(account=i) for i, f in enumerate(pool)]))
            print(f"{source} account {k}: pooled prior from {len(pool)} {pooled_from} accounts\n{population.round(3).to_string(index=False)}", flush=True)
            priors = pooled_priors(population)
            for n in args.sizes:
                for repeat in range(args.repeats):
                    sample = small.sample(n=min(n, len(small)), random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
                    for label, prior in (("pooled", priors), ("own", None), ("ceiling", "ceiling")):
                        record = {"source": source if pooled_from == "same" else f"{source}, {pooled_from} population",
                                  "n": n, "account": k, "repeat": repeat, "fit": label}
                        try:
                            started = time.perf_counter()
                            draws = full[k] if prior == "ceiling" else fit_bgnbd(sample, settings, prior)
                            if prior != "ceiling":
                                seconds.append(time.perf_counter() - started)
                            record.update(scored(draws, sample, holdout_days))
                        except ValueError as error:  # a fit or its predictions failed: counted, never dropped
                            record["failed"] = str(error)
                        records.append(record)
                        print(records[-1], flush=True)
    frame = pd.DataFrame(records)
    if "failed" not in frame:
        frame["failed"] = None
    fits_line = (f"{len(seconds)} small fits, median {np.median(seconds):.2f} s per fit (fit + draws; the first fit "
                 f"with each new pooled prior also compiles it)")
    failed_line = f"failed: {frame.failed.notna().sum()} of {len(frame)} scored fits"
    table = summary_table(frame)
    print(fits_line)
    print(failed_line)
    print(table.to_markdown(index=False))
    page.how_to_read(
        f"BG/NBD only. Each source is split into {N_ACCOUNTS} disjoint accounts; each in turn is the small shop "
        f"(leave one out) and its pooled prior comes from the other accounts' own-prior fits (or from {N_ACCOUNTS} "
        "demo accounts: 'demo population'). For every subsample of n customers of the small shop the fit with the "
        "pooled prior ('pooled'), with the default priors ('own') and the fit on all of the small shop ('ceiling') "
        "predict its holdout. Figures are medians over subsamples; MAE is per-customer holdout orders; "
        "'pooled < own' counts the paired subsamples where the pooled MAE is lower, 'accounts' the accounts whose "
        "median is; coverage is the observed share of customers inside the 90% predictive interval / the mass that "
        "interval holds (above 90%: the counts are discrete), and should match. Differences under ~0.01 MAE are noise."
    )
    page.text(f"NUTS, {settings.chains} chains x {args.draws} draws after {args.draws} tuning steps; {args.repeats} "
              f"subsample(s) per size and account, so {args.repeats * N_ACCOUNTS} per cell; seed {args.seed}. "
              f"{fits_line[0].upper()}{fits_line[1:]}; {failed_line}.")
    shown = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    page.table(list(table.columns), [[shown(v) for v in row] for row in table.itertuples(index=False)])
    for bad in frame[frame.failed.notna()].itertuples():
        page.text(f"Failed: {bad.source}, n = {bad.n}, account {bad.account}, subsample {bad.repeat}, {bad.fit} fit: {bad.failed}")
    page.section("Targets")
    page.table(["source", *TARGETS], targets_table(frame))
    page.write(args.markdown)
    print(f"pooled_backtest: {duration(time.perf_counter() - started_run)}")
    return 0


# the project's targets for the pooled prior, judged per source on the medians over subsamples
SMALL_SIZES, LARGE_SIZE, COVERAGE_POINTS, NOISE_MAE = (50, 100), 200, 3.0, 0.01
TARGETS = [
    f"pooled MAE below own at n = {', '.join(map(str, SMALL_SIZES))} (subsamples pooled < own)",
    f"pooled coverage within {COVERAGE_POINTS:g} points of expected (observed - expected, points)",
    f"no worse than own at n = {LARGE_SIZE} (MAE pooled / own, within {NOISE_MAE})",
]


def targets_table(frame: pd.DataFrame) -> list[list[str]]:
    """Per source, each target judged: the figures behind it and met / not met."""
    ok = frame[frame.failed.isna()]
    rows = []
    for source, cells in ok.groupby("source", sort=False):
        med = cells.groupby(["n", "fit"])[["mae_orders", "interval_coverage", "interval_expected_coverage"]].median()
        wide = cells.pivot_table(index=["n", "account", "repeat"], columns="fit", values="mae_orders")
        sizes = sorted(cells.n.unique())
        small = [n for n in SMALL_SIZES if n in sizes]
        wins = {n: (int((wide.loc[n].pooled < wide.loc[n].own).sum()), len(wide.loc[n])) for n in small}
        small_ok = all(med.loc[(n, "pooled"), "mae_orders"] < med.loc[(n, "own"), "mae_orders"] and 2 * w > t
                       for n, (w, t) in wins.items())
        gaps = [100 * (med.loc[(n, "pooled"), "interval_coverage"] - med.loc[(n, "pooled"), "interval_expected_coverage"])
                for n in sizes]
        cells_out = [
            (", ".join(f"{w}/{t}" for w, t in wins.values()) + f": {'met' if small_ok else 'not met'}") if small else "-",
            ", ".join(f"{g:+.1f}" for g in gaps) + f": {'met' if all(abs(g) <= COVERAGE_POINTS for g in gaps) else 'not met'}",
        ]
        if LARGE_SIZE in sizes:
            pooled, own = med.loc[(LARGE_SIZE, "pooled"), "mae_orders"], med.loc[(LARGE_SIZE, "own"), "mae_orders"]
            cells_out.append(f"{pooled:.3f} / {own:.3f}: {'met' if pooled <= own + NOISE_MAE else 'not met'}")
        else:
            cells_out.append("-")
        rows.append([source, *cells_out])
    return rows


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (source, n): medians over subsamples of each fit's figures and the pooled < own count."""
    ok = frame[frame.failed.isna()]
    wide = ok.pivot_table(index=["source", "n", "account", "repeat"], columns="fit", values="mae_orders")
    rows = []
    for (source, n), cell in ok.groupby(["source", "n"], sort=False):
        med = cell.groupby("fit")[["mae_orders", "aggregate_error_pct", "interval_coverage", "interval_expected_coverage"]].median()
        pair = wide.loc[(source, n)].dropna(subset=["pooled", "own"])
        row = {"source": source, "n": n, "subsamples": len(cell[cell.fit == "own"])}
        for fit in ("pooled", "own", "ceiling"):
            row[f"MAE {fit}"] = round(med.loc[fit, "mae_orders"], 3)
        row["pooled < own"] = f"{int((pair.pooled < pair.own).sum())}/{len(pair)}"
        by_account = pair.groupby(level="account").median()
        row["accounts pooled < own"] = f"{int((by_account.pooled < by_account.own).sum())}/{len(by_account)}"
        row["median MAE own - pooled"] = round(float((pair.own - pair.pooled).median()), 3)
        for fit in ("pooled", "own", "ceiling"):
            row[f"agg. error {fit}"] = f"{med.loc[fit, 'aggregate_error_pct']:+.1f}%"
        for fit in ("pooled", "own"):
            row[f"coverage {fit} (obs / exp)"] = f"{med.loc[fit, 'interval_coverage']:.3f} / {med.loc[fit, 'interval_expected_coverage']:.3f}"
        row["failed"] = int(frame[(frame.source == source) & (frame.n == n)].failed.notna().sum())
        rows.append(row)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    raise SystemExit(main())
