"""MBG/NBD posterior quantities (clv_assets.stats.purchase.mbgnbd) against
pymc-marketing and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from model_draws import CANDIDATE_HIST as HIST
from model_draws import MBG_DRAWS, draws_rows, fake_fit, histories_frame

from clv_assets.stats.purchase import mbgnbd

pytestmark = pytest.mark.fast
N_ROWS = HIST["x"].size


@pytest.fixture(scope="module")
def mbg():
    from pymc_marketing.clv import ModifiedBetaGeoModel

    data = histories_frame(HIST, monetary=None)
    return fake_fit(ModifiedBetaGeoModel(), MBG_DRAWS, data), data


def test_mbgnbd_p_alive_and_expected_purchases_match_pymc_marketing(mbg):
    model, data = mbg
    np.testing.assert_allclose(mbgnbd.mbgnbd_p_alive(**MBG_DRAWS, **HIST), draws_rows(model.expected_probability_alive(data)), rtol=1e-10)
    for t in (7.0, 273.0):
        np.testing.assert_allclose(
            mbgnbd.mbgnbd_expected_purchases(**MBG_DRAWS, **HIST, t=t),
            draws_rows(model.expected_purchases(data, future_t=t)),
            rtol=1e-8,
        )
    new = model.expected_purchases_new_customer(data, t=np.full(N_ROWS, 100.0))
    np.testing.assert_allclose(
        mbgnbd.mbgnbd_expected_purchases(**MBG_DRAWS, x=0, t_x=0.0, T=0.0, t=100.0)[:, 0], draws_rows(new)[:, 0], rtol=1e-8
    )


def test_mbgnbd_pmf_matches_simulation():
    """Forward simulation of the MBG/NBD process with rejection on the observed history."""
    rng = np.random.default_rng(5)
    r, alpha, a, b = 1.0, 30.0, 1.2, 3.0
    n, T, t = 400_000, 60.0, 60.0
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    # a coin after the first purchase (time 0) and after each repeat purchase
    times = np.cumsum(rng.exponential(1.0 / lam[:, None], (n, 6)), axis=1)
    stays = rng.random((n, 7)) >= p[:, None]
    alive_before = np.cumprod(stays[:, :-1], axis=1).astype(bool)  # purchase k happens if alive after k-1
    happened = alive_before & (times <= T + t)
    observed = happened & (times <= T)
    for x in (0, 1):
        keep = observed.sum(axis=1) == x
        # condition on recency too for x = 1: last purchase in a narrow window
        if x == 1:
            keep &= (times[:, 0] > 20.0) & (times[:, 0] <= 22.0)
            t_x = 21.0
        else:
            t_x = 0.0
        future = (happened & (times > T))[keep].sum(axis=1)
        for k in (0, 1, 2):
            prob = mbgnbd.mbgnbd_prob_n_purchases(r, alpha, a, b, x=x, t_x=t_x, T=T, t=t, n=k)[0, 0]
            se = np.sqrt(prob * (1 - prob) / keep.sum())
            assert abs(np.mean(future == k) - prob) < 4 * se + 2e-3, (x, k, np.mean(future == k), prob)
