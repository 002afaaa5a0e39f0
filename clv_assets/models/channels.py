"""How strongly customers stick to their own channels: a Dirichlet-multinomial prior.

Each customer's next order comes through channel k with probability theta_k, and
theta ~ Dirichlet(c * s), where s is the account's channel mix and c the concentration.
Small c: customers stick to their own channels, so their history decides; large c: they
behave like the account as a whole. c is estimated by maximising the Dirichlet-multinomial
marginal likelihood of the customers' channel counts (empirical Bayes); the posterior
probability of channel k for a customer is then (n_k + c * s_k) / (n + c)
(``sql/predictions/customer_channels.sql``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.stats import dirichlet_multinomial

# c is searched on a log scale within these bounds; at the upper bound customers are
# indistinguishable from the account mix
MIN_CONCENTRATION, MAX_CONCENTRATION = 1e-2, 1e4


def channel_mix(counts: pd.DataFrame) -> pd.DataFrame:
    """The account's orders and share per channel, from columns customer_id, channel, orders."""
    mix = counts.groupby("channel", as_index=False)["orders"].sum()
    mix["share"] = mix["orders"] / mix["orders"].sum()
    return mix.sort_values(["orders", "channel"], ascending=[False, True], ignore_index=True)


def fit_concentration(counts: pd.DataFrame, mix: pd.DataFrame) -> float:
    """Maximum marginal-likelihood concentration c for the account's channel counts.

    Only customers with at least two orders with a channel tell how much customers
    differ (one order is equally likely under any c), so an account without them, or
    with a single channel, gets the upper bound: everyone follows the account mix.
    """
    if counts.empty or len(mix) < 2:
        return MAX_CONCENTRATION
    wide = counts.pivot_table(index="customer_id", columns="channel", values="orders", fill_value=0, aggfunc="sum")
    wide = wide.reindex(columns=mix["channel"], fill_value=0)
    x = wide.to_numpy(float)
    n = x.sum(axis=1)
    x = x[n >= 2]
    if len(x) == 0:
        return MAX_CONCENTRATION
    # customers with the same counts share a likelihood term
    rows, weights = np.unique(x, axis=0, return_counts=True)
    shares = mix["share"].to_numpy(float)

    def negative_log_likelihood(log_c: float) -> float:
        alpha = np.exp(log_c) * shares
        return -float(weights @ dirichlet_multinomial.logpmf(rows, alpha, rows.sum(axis=1)))

    result = minimize_scalar(
        negative_log_likelihood, bounds=(np.log(MIN_CONCENTRATION), np.log(MAX_CONCENTRATION)), method="bounded"
    )
    return float(np.exp(result.x))
