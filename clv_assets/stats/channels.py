"""How strongly customers stick to their own channels: a Dirichlet-multinomial prior.

Each customer's next order comes through channel k with probability theta_k, and
theta ~ Dirichlet(c * s), where s is the account's channel mix and c the concentration.
Small c: customers stick to their own channels, so their history decides; large c: they
behave like the account as a whole. c is estimated by maximising the Dirichlet-multinomial
marginal likelihood of the customers' channel counts (empirical Bayes); the posterior
probability of channel k for a customer is then (n_k + c * s_k) / (n + c)
(``sql/predictions/customer_channels.sql``).

Both functions take the account's *distinct* channel histories with their multiplicities
(columns ``history_id``, ``channel``, ``orders``, ``customers``; one row per history and
channel with orders, ``sql/queries/distinct_channel_histories.sql``): customers with the
same counts share a likelihood term, so the cost grows with distinct histories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# c is searched on a log scale within these bounds; at the upper bound customers are
# indistinguishable from the account mix
MIN_CONCENTRATION, MAX_CONCENTRATION = 1e-2, 1e4


def channel_mix(histories: pd.DataFrame) -> pd.DataFrame:
    """The account's orders and share per channel (columns channel, orders, share)."""
    orders = (histories["orders"] * histories["customers"]).groupby(histories["channel"]).sum()
    mix = orders.rename("orders").rename_axis("channel").reset_index()
    mix["share"] = mix["orders"] / mix["orders"].sum()
    return mix.sort_values(["orders", "channel"], ascending=[False, True], ignore_index=True)


def count_vectors(histories: pd.DataFrame, channels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct history's orders per channel (columns in ``channels`` order) and its customers."""
    wide = histories.pivot_table(index="history_id", columns="channel", values="orders", fill_value=0, aggfunc="sum")
    wide = wide.reindex(columns=channels, fill_value=0)
    customers = histories.groupby("history_id")["customers"].first().reindex(wide.index)
    return wide.to_numpy(float), customers.to_numpy(float)


def fit_concentration(histories: pd.DataFrame, mix: pd.DataFrame) -> float:
    """Maximum marginal-likelihood concentration c for the account's channel histories.

    Only customers with at least two orders with a channel tell how much customers
    differ (one order is equally likely under any c), so an account without them, or
    with a single channel, gets the upper bound: everyone follows the account mix.
    """
    if histories.empty or len(mix) < 2:
        return MAX_CONCENTRATION
    x, weights = count_vectors(histories, list(mix["channel"]))
    informative = x.sum(axis=1) >= 2
    x, weights = x[informative], weights[informative]
    if len(x) == 0:
        return MAX_CONCENTRATION
    from scipy.optimize import minimize_scalar
    from scipy.special import gammaln

    shares = mix["share"].to_numpy(float)
    n = x.sum(axis=1)

    def negative_log_likelihood(log_c: float) -> float:
        # the Dirichlet-multinomial log pmf without its multinomial coefficient, which does
        # not depend on c
        c = np.exp(log_c)
        alpha = c * shares
        terms = gammaln(c) - gammaln(n + c) + (gammaln(x + alpha) - gammaln(alpha)).sum(axis=1)
        return -float(weights @ terms)

    result = minimize_scalar(
        negative_log_likelihood, bounds=(np.log(MIN_CONCENTRATION), np.log(MAX_CONCENTRATION)), method="bounded"
    )
    return float(np.exp(result.x))
