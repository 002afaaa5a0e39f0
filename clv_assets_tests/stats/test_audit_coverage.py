"""The audit's predictive intervals cover the truth at their nominal rate when the model is
right: accounts simulated by the demo generator (BG/NBD purchases, Gamma-Gamma spend),
their histories cut at a date, their true parameters as the posterior, and the totals of
the next days' orders against the 90% intervals (a Monte-Carlo check of the maths)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv_assets.demo import _simulate_chunk
from clv_assets.stats.audit import TOTALS, AuditSettings, interval, simulated_totals, sub_horizon_means

BG = {"r": 0.6, "alpha": 40.0, "a": 0.8, "b": 3.0}
GG = {"p": 6.0, "q": 4.0, "gamma": 20.0}
AS_OF = 640.0  # days into the generator's 730-day window: 90 days of orders follow
ACCOUNTS, CUSTOMERS = 400, 200


def simulated_account(seed: int, days: float) -> tuple[pd.DataFrame, dict]:
    """Histories (frequency, recency, T, monetary_value) at AS_OF and the true totals of the
    next ``days``."""
    sim = _simulate_chunk(np.random.SeedSequence(seed), CUSTOMERS, BG, GG)
    orders = pd.DataFrame({"customer": sim["cust"], "t": sim["t"], "amount": sim["amount"]})[sim["status"] == 0]
    past = orders[orders["t"] <= AS_OF].sort_values("t").groupby("customer")
    future = orders[(orders["t"] > AS_OF) & (orders["t"] <= AS_OF + days)]
    x = past.size() - 1
    histories = pd.DataFrame({
        "frequency": x,
        "recency": past["t"].max() - past["t"].min(),
        "T": AS_OF - past["t"].min(),
        "monetary_value": np.where(x > 0, (past["amount"].sum() - past["amount"].first()) / x.clip(lower=1), 0.0),
    }).reset_index(drop=True)
    return histories, {"orders": len(future), "buyers": future["customer"].nunique(), "spend": future["amount"].sum()}


# Totals are counts: the interval's ends are counts too, and an interval that includes its
# ends covers at least 90%. Over 30 days (some 30 orders per account) that shows: about 93%
# (seen: 93.5 / 94.0 / 92.3% for orders / buyers / spend with 400 accounts), so its upper
# tolerance is wider; over 90 days the counts are larger and coverage is within 3 points.
@pytest.mark.parametrize(("days", "below", "above"), [(30.0, 0.03, 0.05), (90.0, 0.03, 0.03)])
def test_intervals_cover_at_their_nominal_rate(days, below, above):
    bg = {k: np.array([v]) for k, v in BG.items()}
    gg = {"p": np.array([GG["p"]]), "q": np.array([GG["q"]]), "v": np.array([GG["gamma"]])}
    hits, ratios = [], []
    for seed in range(ACCOUNTS):
        histories, actual = simulated_account(seed, days)
        totals = simulated_totals(histories, np.ones((len(histories), 1)), bg, gg, "bgnbd", days, AuditSettings(400, seed=seed))
        hits.append([interval(totals[k])[0][0] <= actual[k] <= interval(totals[k])[1][0] for k in TOTALS])
        ratios.append(actual["orders"] / sub_horizon_means(histories, bg, gg, "bgnbd", days)["orders"].sum())
    coverage = np.mean(hits, axis=0)
    print(f"{days:.0f} days: coverage orders/buyers/spend {coverage}, actual/predicted orders {np.mean(ratios):.3f}")
    assert 0.90 - below <= np.mean(coverage) <= 0.90 + above
    assert np.all((0.90 - below - 0.02 <= coverage) & (coverage <= 0.90 + above + 0.02))
    # the predicted means are unbiased too
    assert abs(np.mean(ratios) - 1.0) < 0.05
