"""MBG/NBD and Pareto/NBD posterior quantities against pymc-marketing and simulation.

Parameters are fixed draws (no sampling); pymc-marketing's models get them as a fake
posterior through ``model.idata``.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from pymc_marketing.clv import ModifiedBetaGeoModel, ParetoNBDModel

from clv_assets.models import posterior_math as pmath

# CDNOW-like values in days (Pareto/NBD: Fader, Hardie & Lee 2005; alpha, beta in weeks x 7)
MBG_DRAWS = dict(
    r=np.array([0.25, 0.5, 1.2, 0.3]),
    alpha=np.array([31.0, 60.0, 20.0, 45.0]),
    a=np.array([0.8, 1.6, 0.55, 2.5]),
    b=np.array([2.4, 4.0, 0.7, 6.0]),
)
PNBD_DRAWS = dict(
    r=np.array([0.553, 0.4, 1.5, 0.8]),
    alpha=np.array([74.0, 30.0, 120.0, 60.0]),  # alpha < beta and alpha > beta both occur
    s=np.array([0.606, 1.4, 0.3, 1.001]),
    beta=np.array([81.7, 20.0, 200.0, 60.0]),
)
HIST = dict(
    x=np.array([0, 0, 1, 2, 5, 10, 30, 3]),
    t_x=np.array([0.0, 0.0, 0.0, 30.0, 60.0, 200.0, 250.0, 300.0]),
    T=np.array([0.0, 100.0, 50.0, 120.0, 90.0, 250.0, 260.0, 300.0]),
)
N_ROWS = HIST["x"].size


def _fake_fit(model, draws):
    data = pd.DataFrame({"customer_id": np.arange(N_ROWS), "frequency": HIST["x"], "recency": HIST["t_x"], "T": HIST["T"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.build_model(data)
    model.idata = az.from_dict({"posterior": {k: v[None, :] for k, v in draws.items()}})
    return model, data


def _rows(da) -> np.ndarray:
    return da.transpose("chain", "draw", "customer_id").values.reshape(-1, N_ROWS)


@pytest.fixture(scope="module")
def mbg():
    return _fake_fit(ModifiedBetaGeoModel(), MBG_DRAWS)


@pytest.fixture(scope="module")
def pnbd():
    return _fake_fit(ParetoNBDModel(), {k: np.asarray(v, float) for k, v in PNBD_DRAWS.items()})


def test_mbgnbd_p_alive_and_expected_purchases_match_pymc_marketing(mbg):
    model, data = mbg
    np.testing.assert_allclose(pmath.mbgnbd_p_alive(**MBG_DRAWS, **HIST), _rows(model.expected_probability_alive(data)), rtol=1e-10)
    for t in (7.0, 273.0):
        np.testing.assert_allclose(
            pmath.mbgnbd_expected_purchases(**MBG_DRAWS, **HIST, t=t),
            _rows(model.expected_purchases(data, future_t=t)),
            rtol=1e-8,
        )
    new = model.expected_purchases_new_customer(data, t=np.full(N_ROWS, 100.0))
    np.testing.assert_allclose(
        pmath.mbgnbd_expected_purchases(**MBG_DRAWS, x=0, t_x=0.0, T=0.0, t=100.0)[:, 0], _rows(new)[:, 0], rtol=1e-8
    )


def test_pareto_nbd_quantities_match_pymc_marketing(pnbd):
    model, data = pnbd
    np.testing.assert_allclose(
        pmath.pareto_nbd_p_alive(**PNBD_DRAWS, **HIST), _rows(model.expected_probability_alive(data)), rtol=1e-8
    )
    for t in (7.0, 273.0):
        np.testing.assert_allclose(
            pmath.pareto_nbd_expected_purchases(**PNBD_DRAWS, **HIST, t=t),
            _rows(model.expected_purchases(data, future_t=t)),
            rtol=1e-7,
        )
        for n in (0, 1, 2, 4):
            ours = pmath.pareto_nbd_prob_n_purchases(**PNBD_DRAWS, **HIST, t=t, n=n)
            theirs = _rows(model.expected_purchase_probability(data, n_purchases=n, future_t=t))
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-10, err_msg=f"n={n}, t={t}")
    new = model.expected_purchases_new_customer(data, t=np.full(N_ROWS, 100.0))
    np.testing.assert_allclose(
        pmath.pareto_nbd_expected_purchases(**PNBD_DRAWS, x=0, t_x=0.0, T=0.0, t=100.0)[:, 0], _rows(new)[:, 0], rtol=1e-7
    )


def test_pareto_nbd_expected_purchases_is_continuous_at_s_equal_one():
    at_one = dict(PNBD_DRAWS, s=np.ones(4))
    near = dict(PNBD_DRAWS, s=np.full(4, 1.0 + 1e-7))
    np.testing.assert_allclose(
        pmath.pareto_nbd_expected_purchases(**at_one, **HIST, t=90.0),
        pmath.pareto_nbd_expected_purchases(**near, **HIST, t=90.0),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "prob, expected, draws",
    [
        (pmath.mbgnbd_prob_n_purchases, pmath.mbgnbd_expected_purchases, MBG_DRAWS),
        (pmath.pareto_nbd_prob_n_purchases, pmath.pareto_nbd_expected_purchases, PNBD_DRAWS),
    ],
)
def test_pmf_sums_to_one_and_its_mean_is_the_expectation(prob, expected, draws):
    t = 273.0
    ns = np.arange(0, 400)
    pmf = np.stack([prob(**draws, **HIST, t=t, n=n) for n in ns])
    assert np.all(pmf >= -1e-15) and np.all(np.isfinite(pmf))
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, rtol=1e-7)
    mean = (ns[:, None, None] * pmf).sum(axis=0)
    np.testing.assert_allclose(mean, expected(**draws, **HIST, t=t), rtol=1e-6)


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
            prob = pmath.mbgnbd_prob_n_purchases(r, alpha, a, b, x=x, t_x=t_x, T=T, t=t, n=k)[0, 0]
            se = np.sqrt(prob * (1 - prob) / keep.sum())
            assert abs(np.mean(future == k) - prob) < 4 * se + 2e-3, (x, k, np.mean(future == k), prob)


def _simulate_future_if_alive(model: str, params: dict, x: float, T: float, t: float, n: int, rng) -> np.ndarray:
    """Purchases in (T, T + t] of customers alive at T, simulated from the model's
    individual-level story with the alive-branch posterior of (lambda, dropout)."""
    lam = rng.gamma(params["r"] + x, 1.0 / (params["alpha"] + T), n)
    if model == "pareto_nbd":  # exponential lifetime: purchases at rate lambda until then
        lifetime = rng.exponential(1.0 / rng.gamma(params["s"], 1.0 / (params["beta"] + T), n))
        return rng.poisson(lam * np.minimum(t, lifetime))
    # BG/NBD (b' = b + x) and MBG/NBD (b' = b + x + 1): a coin after every purchase
    p = rng.beta(params["a"], params["b"] + x + (1.0 if model == "mbgnbd" else 0.0), n)
    counts = np.zeros(n, dtype=int)
    clock = rng.exponential(1.0 / lam)
    active = clock <= t
    while active.any():
        counts[active] += 1
        dropped = rng.random(n) < p
        clock = clock + rng.exponential(1.0 / lam)
        active = active & ~dropped & (clock <= t)
    return counts


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto_nbd"])
def test_future_if_alive_matches_simulation(model):
    """``future_if_alive`` and ``p_none_if_alive`` (what the predictions use per distinct
    (frequency, T)) against 200,000 simulated alive customers per history."""
    rng = np.random.default_rng(3)
    draws = PNBD_DRAWS if model == "pareto_nbd" else MBG_DRAWS
    math_ = pmath.PURCHASE_MATH[model]
    t = 180.0
    for x, T in ((0.0, 100.0), (3.0, 120.0), (10.0, 250.0)):
        params = {k: v[1] for k, v in draws.items()}
        future = math_.future_if_alive(**params, x=x, T=T, t=t)
        counts = _simulate_future_if_alive(model, params, x, T, t, 200_000, rng)
        se = lambda p: 4 * np.sqrt(p * (1 - p) / counts.size) + 1e-4  # noqa: E731
        assert abs(future["p_none"].item() - (counts == 0).mean()) < se((counts == 0).mean()), (model, x, T)
        assert abs(future["p_one"].item() - (counts == 1).mean()) < se((counts == 1).mean()), (model, x, T)
        assert abs(future["expected"].item() / counts.mean() - 1) < 0.02, (model, x, T)
        p_none = math_.p_none_if_alive(**params, x=x, T=T)(np.array([[t]]))
        np.testing.assert_allclose(p_none, future["p_none"], rtol=1e-10)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto_nbd"])
def test_time_to_next_order_is_where_the_order_probability_crosses_one_half(model):
    """At the returned day the posterior-mean P(at least one order) is 1/2, by the model's
    own conditional PMF (``prob_n_purchases`` with n = 0)."""
    draws = PNBD_DRAWS if model == "pareto_nbd" else MBG_DRAWS
    math_ = pmath.PURCHASE_MATH[model]
    x, t_x, T = np.array([5.0, 10.0, 30.0]), np.array([80.0, 240.0, 255.0]), np.array([90.0, 250.0, 260.0])
    days = pmath.time_to_next_purchase_quantile(
        math_.p_alive(**draws, x=x, t_x=t_x, T=T), math_.p_none_if_alive(**draws, x=x, T=T), q=0.5, horizon=2000.0, tol=1e-4
    )
    assert np.isfinite(days).all()
    p_order = 1 - math_.prob_n_purchases(**draws, x=x, t_x=t_x, T=T, t=days, n=0).mean(axis=0)
    np.testing.assert_allclose(p_order, 0.5, atol=1e-5)
