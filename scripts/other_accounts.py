"""Write landing accounts from generators other than the demo's BG/NBD + Gamma-Gamma one.

Usage: .venv/bin/python scripts/other_accounts.py LANDING_DIR [--customers N] [--seed S] [--end YYYY-MM-DD]

The segments (issue 15) are checked on accounts the models were not simulated from:

- ``pareto-mix``: a Pareto/NBD process in continuous time (Poisson orders at a gamma-
  distributed rate, exponential lifetimes at a gamma-distributed dropout rate, customers
  acquired over three years), with log-normal order values whose mean varies by customer
  and rises with the customer's order rate (frequent buyers spend more per order, which
  Gamma-Gamma assumes away).
- ``seasonal-gifts``: a mixture: gift buyers who order only in the weeks before Christmas
  (each year they are still customers, which they stay with 70% a year, they buy with a
  customer-specific chance), regular buyers with a Poisson rate and an exponential
  lifetime, and one-shot buyers who never return. The observation ends before the
  Christmas season, so the gift buyers look lapsed: the hard case for "at risk".

Each account gets ``orders.csv`` (order_id, customer_id, ordered_at, amount, currency) and
no ``_account.json``: default settings throughout.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

DAY = np.timedelta64(1, "D")


def _frame(customers: list[np.ndarray], days: list[np.ndarray], amounts: list[np.ndarray], origin: date, prefix: str):
    customer = np.concatenate(customers)
    day = np.concatenate(days)
    amount = np.concatenate(amounts)
    order = np.lexsort((day, customer))
    customer, day, amount = customer[order], day[order], amount[order]
    seconds = (day * 86_400).astype(np.int64)
    when = np.datetime64(origin.isoformat(), "s") + seconds.astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "order_id": [f"{prefix}{i:07d}" for i in range(1, len(day) + 1)],
            "customer_id": [f"{prefix}c{c:05d}" for c in customer],
            "ordered_at": pd.Series(when).dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "amount": np.round(amount, 2),
            "currency": "EUR",
        }
    )


def pareto_mix(rng: np.random.Generator, n: int, start: date, end: date) -> pd.DataFrame:
    """Pareto/NBD orders (rates per day) with customer-specific log-normal order values."""
    span = (end - start).days
    joined = rng.uniform(0, span - 30, n)  # acquisition day of the first order
    rate = rng.gamma(0.7, 1 / 45.0, n)  # orders per day: mean ~ 5.7 a year, heavily skewed
    dropout = rng.gamma(0.9, 1 / 400.0, n)  # per day: mean lifetime ~ 440 days
    lifetime = rng.exponential(1 / dropout)
    mean_value = np.exp(rng.normal(3.4, 0.55, n) + 0.25 * np.log(rate * 365 + 1))
    customers, days, amounts = [], [], []
    for i in range(n):
        stop = min(joined[i] + lifetime[i], span)
        t, times = joined[i], [joined[i]]
        while True:
            t += rng.exponential(1 / rate[i])
            if t >= stop:
                break
            times.append(t)
        times = np.asarray(times)
        customers.append(np.full(len(times), i))
        days.append(times)
        amounts.append(mean_value[i] * rng.lognormal(-0.08, 0.4, len(times)))
    return _frame(customers, days, amounts, start, "pm")


def seasonal_gifts(rng: np.random.Generator, n: int, start: date, end: date) -> pd.DataFrame:
    """Gift buyers (Christmas only), regulars (Poisson with dropout) and one-shot buyers."""
    span = (end - start).days
    kind = rng.choice(3, size=n, p=[0.45, 0.4, 0.15])  # 0 gift, 1 regular, 2 one-shot
    seasons = [
        ((date(y, 11, 15) - start).days, (date(y, 12, 24) - start).days)
        for y in range(start.year, end.year + 1)
        if (date(y, 12, 24) - start).days < span
    ]
    customers, days, amounts = [], [], []
    for i in range(n):
        if kind[i] == 0:  # gift buyer: first order in a season, then each season while still a customer
            first = rng.integers(len(seasons))
            chance = rng.beta(2, 3)
            times = [rng.uniform(*seasons[first])]
            for lo, hi in seasons[first + 1:]:
                if rng.random() > 0.7:  # stopped being a customer
                    break
                if rng.random() < chance:
                    times += list(rng.uniform(lo, hi, 1 + rng.poisson(0.3)))
            value = rng.gamma(4, 20)
        elif kind[i] == 1:  # regular: Poisson orders while alive
            joined = rng.uniform(0, span - 30)
            rate = rng.gamma(1.2, 1 / 60.0)
            stop = min(joined + rng.exponential(500), span)
            t, times = joined, [joined]
            while (t := t + rng.exponential(1 / rate)) < stop:
                times.append(t)
            value = rng.gamma(3, 12)
        else:  # one-shot buyer
            times = [rng.uniform(0, span - 1)]
            value = rng.gamma(2, 25)
        times = np.asarray(times)
        customers.append(np.full(len(times), i))
        days.append(times)
        amounts.append(value * rng.gamma(8, 1 / 8, len(times)))
    return _frame(customers, days, amounts, start, "sg")


GENERATORS = {"pareto-mix": pareto_mix, "seasonal-gifts": seasonal_gifts}


def write_accounts(landing: Path, customers: int, seed: int, end: date) -> list[str]:
    start = end - timedelta(days=3 * 365 + 90)
    for k, (account, generate) in enumerate(GENERATORS.items()):
        folder = landing / account
        folder.mkdir(parents=True, exist_ok=True)
        generate(np.random.default_rng([seed, k]), customers, start, end).to_csv(folder / "orders.csv", index=False)
    return list(GENERATORS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1), help="last day with orders")
    args = parser.parse_args()
    for account in write_accounts(args.landing, args.customers, args.seed, args.end):
        orders = pd.read_csv(args.landing / account / "orders.csv")
        per_customer = orders.groupby("customer_id").size()
        print(
            f"{account}: {len(orders)} orders, {len(per_customer)} customers, "
            f"{(per_customer == 1).mean():.0%} one-time buyers, {orders.ordered_at.min()[:10]} .. {orders.ordered_at.max()[:10]}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
