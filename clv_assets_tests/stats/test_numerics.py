"""Shared numerics (clv_assets.stats.numerics): the next-order date of every purchase
model, the quadrature, the piecewise no-order curve and the shape helpers."""

from __future__ import annotations

import numpy as np
import pytest
from model_draws import posterior_around

from clv_assets.stats import numerics
from clv_assets.stats.numerics import time_to_next_purchase_quantile
from clv_assets.stats.registry import PURCHASE_MODELS

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("model", list(PURCHASE_MODELS))
def test_time_to_next_order_is_where_the_order_probability_crosses_one_half(model):
    """At the returned day the posterior-mean P(at least one order) is 1/2, by the model's
    own conditional PMF (``prob_n_purchases`` with n = 0)."""
    math_ = PURCHASE_MODELS[model]
    draws = posterior_around(math_)
    x, t_x, T = np.array([5.0, 10.0, 30.0]), np.array([80.0, 240.0, 255.0]), np.array([90.0, 250.0, 260.0])
    days = time_to_next_purchase_quantile(
        math_.p_alive(**draws, x=x, t_x=t_x, T=T), math_.p_none_if_alive(**draws, x=x, T=T), q=0.5, horizon=2000.0, tol=1e-4
    )
    assert np.isfinite(days).all()
    p_order = 1 - math_.prob_n_purchases(**draws, x=x, t_x=t_x, T=T, t=days, n=0).mean(axis=0)
    np.testing.assert_allclose(p_order, 0.5, atol=1e-5)


def test_quadrature_integrates_polynomials_exactly_over_each_interval():
    t0, t1 = np.array([[0.0, 2.0, 5.0]]), np.array([[1.0, 3.5, 105.0]])
    tau, weights = numerics.quadrature_nodes(t0, t1)
    assert tau.shape == weights.shape and tau.shape[:-1] == t0.shape
    assert np.all((tau >= t0[..., None]) & (tau <= t1[..., None]))
    got = np.sum(weights * (3 * tau**2 - tau + 1), axis=-1)
    np.testing.assert_allclose(got, (t1**3 - t1**2 / 2 + t1) - (t0**3 - t0**2 / 2 + t0), rtol=1e-12)


def _bisection(p_alive, curve, q, horizon, tol):
    """The plain bisection of (0, horizon] on the posterior-mean P(order), one evaluation
    of every row per halving: the reference the grid search must reproduce."""
    f = lambda t: (p_alive * (1.0 - curve(t[None, :]))).mean(axis=0)  # noqa: E731
    lo, hi = np.zeros(p_alive.shape[1]), np.full(p_alive.shape[1], horizon)
    reachable = f(hi) >= q
    while np.any(hi - lo > tol):
        mid = 0.5 * (lo + hi)
        ok = f(mid) >= q
        lo, hi = np.where(ok, lo, mid), np.where(ok, mid, hi)
    return np.where(reachable, hi, np.nan)


@pytest.mark.parametrize("model", list(PURCHASE_MODELS))
def test_next_order_search_finds_the_bisections_day(model):
    """The Newton/chord grid search returns exactly the day a bisection finds, for 400
    random histories (sparse and frequent buyers, young and old) and two tolerances."""
    rng = np.random.default_rng(7)
    draws = posterior_around(PURCHASE_MODELS[model], n_draws=40, seed=7)
    n = 400
    T = rng.uniform(0.0, 700.0, n).round()
    x = np.where(rng.random(n) < 0.3, 0.0, rng.poisson(3, n) + (rng.random(n) < 0.2) * rng.poisson(30, n)).astype(float)
    t_x = np.where(x > 0, np.floor(rng.random(n) * T), 0.0)
    math_ = PURCHASE_MODELS[model]
    p_alive, curve = math_.p_alive(**draws, x=x, t_x=t_x, T=T), math_.p_none_if_alive(**draws, x=x, T=T)
    for horizon, tol in ((365.0, 0.5), (1500.0, 1e-3)):
        expected = _bisection(p_alive, curve, 0.5, horizon, tol)
        assert 50 < np.isfinite(expected).sum() < n
        np.testing.assert_array_equal(time_to_next_purchase_quantile(p_alive, curve, q=0.5, horizon=horizon, tol=tol), expected)


def test_posterior_mean_order_probability_has_numpys_bits():
    """The compiled means of the next-order search equal numpy's ``mean(axis=0)`` of the
    gathered draws bit for bit, for one column (numpy sums it pairwise) and several."""
    rng = np.random.default_rng(11)
    p_alive = rng.random((200, 40))
    for cols in (np.array([7]), np.array([3, 1]), rng.permutation(40)[:25]):
        value, slope = rng.random((200, cols.size)), -rng.random((200, cols.size))
        weights = p_alive[:, cols]
        f, f_slope = numerics.posterior_mean_order_probability(p_alive, cols, value, slope)
        np.testing.assert_array_equal(f, (weights * (1.0 - value)).mean(axis=0))
        np.testing.assert_array_equal(f_slope, -(weights * slope).mean(axis=0))


def test_shape_helpers():
    assert numerics.as_draws([1.0, 2.0, 3.0]).shape == (3, 1)
    assert numerics.as_rows(4.0).shape == (1, 1)
    assert numerics.out_shape((np.zeros((3, 1)),), (np.zeros((1, 5)), np.zeros((1, 1)))) == (3, 5)
    with pytest.raises(ValueError):
        numerics.as_draws(np.zeros((2, 2)))
    assert numerics.blocks(5, 2) == [(0, 2), (2, 4), (4, 5)]
    thinned = numerics.thin({"r": np.arange(20.0).reshape(2, 10)}, 5)
    np.testing.assert_array_equal(thinned["r"], [0.0, 5.0, 10.0, 14.0, 19.0])


def test_draw_quantiles_equal_numpys_linear_quantiles():
    from clv_assets.stats.predict import draw_quantiles

    rng = np.random.default_rng(3)
    for n_draws in (1, 2, 7, 200):
        per_draw = rng.gamma(0.5, 2.0, size=(n_draws, 50))
        per_draw[:, 3] = 0.25  # ties
        per_draw[n_draws // 2, 7] = np.nan
        for quantiles in ((0.05, 0.95), (0.0, 0.5, 1.0)):
            np.testing.assert_allclose(
                draw_quantiles(per_draw, quantiles), np.quantile(per_draw, quantiles, axis=0), rtol=1e-12, atol=0
            )


def test_band_counts_are_the_counts_of_searchsorted_bands():
    from clv_assets.stats.band_confidence import band_counts

    rng = np.random.default_rng(4)
    cutoffs = [2.0, 0.5, 1.25, 0.8]  # any order
    # draws x rows, with values on the cut-offs, 0, inf and NaN
    values = np.concatenate([rng.gamma(1.0, 1.0, 5000), sorted(cutoffs), [0.0, np.inf, np.nan]])
    values = rng.permutation(values).reshape(-1, 3)
    index = np.searchsorted(np.sort(cutoffs), values, side="left")
    expected = np.stack([(index == k).sum(axis=0) for k in range(len(cutoffs) + 1)])
    counts = band_counts(values, cutoffs)
    np.testing.assert_array_equal(counts, expected)
    assert counts.dtype == np.uint16  # two bytes per count while the draws fit
    # the SQL's share, count / draws, is numpy's share of the draws to the last bit
    np.testing.assert_array_equal(counts / len(values), np.stack([(index == k).mean(axis=0) for k in range(len(cutoffs) + 1)]))
    np.testing.assert_array_equal(band_counts(values[:, :1], []), np.full((1, 1), len(values)))
    # scaled per draw (a draw's account mean), and in whole percent: as the numpy expressions
    scale = rng.gamma(2.0, 1.0, len(values))
    np.testing.assert_array_equal(band_counts(values, cutoffs, scale), band_counts(values / scale[:, None], cutoffs))
    probabilities = rng.random(values.shape)
    probabilities[0, 0] = 0.255  # a half percent
    np.testing.assert_array_equal(
        band_counts(probabilities, [25, 50, 75], percent=True), band_counts(np.floor(100.0 * probabilities + 0.5), [25, 50, 75])
    )


def test_unique_columns_equals_numpy_unique_by_columns():
    from clv_assets.stats.predict import unique_columns

    rng = np.random.default_rng(5)
    keys = rng.integers(0, 4, size=(3, 500)).astype(float)  # many repeated columns
    expected, expected_inverse = np.unique(keys, axis=1, return_inverse=True)
    got, inverse = unique_columns(keys)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))
    np.testing.assert_array_equal(got[:, inverse], keys)
