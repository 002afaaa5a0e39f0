"""What moves a customer's prediction, in words a marketer reads.

Under a covariate purchase model every customer of one covariate level (first-order
channel, first-order value) shares the parameters their prediction is computed at. A
covariate's pull on that level is how many repeat orders a customer of the level is
expected to make over the horizon from their first order, against the same customer
with that covariate at its reference (the account's most common first-order channel, an
average first-order value): the ratio of the two posterior-mean expectations. The one
or two covariates with the largest pull (either way) explain the level, e.g.
"first order through email: 1.6x the repeat orders of web".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, PURCHASE_MODELS

SHOWN = 2  # covariates named per customer at most
NOTICEABLE = 0.05  # a pull within 5% either way is not named


def covariate_pulls(model: str, draws: Mapping[str, np.ndarray], z: np.ndarray, horizon: float) -> np.ndarray:
    """Per covariate: posterior-mean repeat orders over ``horizon`` days of a new customer
    with covariates ``z`` divided by the same with that covariate at 0 (1 where it is 0)."""
    spec = COVARIATE_PURCHASE_MODELS[model]
    base = PURCHASE_MODELS[spec.base]

    def expected(vector):
        return float(base.expected_purchases(**spec.customer_parameters(draws, vector), x=0.0, t_x=0.0, T=0.0, t=horizon).mean())

    z = np.asarray(z, dtype=float)
    own = expected(z)
    pulls = np.ones(len(z))
    for j in np.flatnonzero(z):
        pulls[j] = own / expected(np.where(np.arange(len(z)) == j, 0.0, z))
    return pulls


def describe(covariate: str, value: float, pull: float, channels: Mapping[int, str]) -> str:
    """One covariate's pull in words (``channels``: the account's first-order channels by rank)."""
    reference = channels.get(1, "the most common channel")
    if covariate == "value_z":
        size = "higher" if value > 0 else "lower"
        subject = f"{size} first order value ({value:+g} sd)"
        against = "an average first order"
    else:
        name = {"channel_2": channels.get(2), "channel_3": channels.get(3)}.get(covariate) or "another channel"
        subject = f"first order through {name}"
        against = reference
    return f"{subject}: {pull:.1f}x the repeat orders of {against}"


def level_explanations(
    model: str, draws: Mapping[str, np.ndarray], rows: pd.DataFrame, channels: Mapping[int, str], horizon: float
) -> pd.Series:
    """Per row of ``rows`` (the model's covariate columns), the one or two covariates that
    move its prediction most, in words; a customer whose covariates pull less than
    :data:`NOTICEABLE` either way reads so. Computed once per distinct covariate vector."""
    spec = COVARIATE_PURCHASE_MODELS[model]
    Z = rows[list(spec.covariates)].to_numpy(float)
    levels, inverse = np.unique(Z, axis=0, return_inverse=True)
    texts = []
    for z in levels:
        pulls = covariate_pulls(model, draws, z, horizon)
        strength = np.abs(np.log(pulls))
        named = [j for j in np.argsort(-strength, kind="stable")[:SHOWN] if strength[j] >= np.log1p(NOTICEABLE)]
        text = "; ".join(describe(spec.covariates[j], z[j], pulls[j], channels) for j in named)
        if not text and not z.any():
            text = f"first order through {channels.get(1, 'the most common channel')} at an average value: the reference customer"
        texts.append(text or "first order's channel and value: within 5% of the reference customer")
    return pd.Series(np.asarray(texts, dtype=object)[inverse.reshape(-1)], index=rows.index)
