"""What every purchase model of the registry provides, checked model by model: its PMF
against its expectation, its "if alive" quantities against simulation; and the registry
imports without PyMC."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from model_draws import CANDIDATE_HIST as HIST
from model_draws import MBG_DRAWS, PNBD_DRAWS

from clv_assets.stats.purchase import mbgnbd, pareto_nbd
from clv_assets.stats.registry import PURCHASE_MODELS

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    "prob, expected, draws",
    [
        (mbgnbd.mbgnbd_prob_n_purchases, mbgnbd.mbgnbd_expected_purchases, MBG_DRAWS),
        (pareto_nbd.pareto_nbd_prob_n_purchases, pareto_nbd.pareto_nbd_expected_purchases, PNBD_DRAWS),
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
    math_ = PURCHASE_MODELS[model]
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


def test_registry_imports_without_pymc():
    """Definitions and the CLI import the registry: PyMC and friends load only when a model is built."""
    heavy = ("pymc", "pytensor", "pymc_extras", "pymc_marketing", "arviz", "matplotlib")
    code = f"import sys, clv_assets.stats.registry; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_model_has_a_label_and_its_own_name():
    assert [m.label for m in PURCHASE_MODELS.values()] == ["BG/NBD", "MBG/NBD", "Pareto/NBD"]
    assert all(name == model.name for name, model in PURCHASE_MODELS.items())


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
def test_beta_geo_pmf_range_is_prob_n_purchases_for_each_n(name):
    """The block of n (NB term and beta ratios by recursion, the tail carried down from one
    ``betainc``) against one ``prob_n_purchases`` call per n, deep into the tail, at t = 0
    and for one-time buyers."""
    model = PURCHASE_MODELS[name]
    rng = np.random.default_rng(4)
    draws = {"r": rng.gamma(20, 0.3 / 20, 50), "alpha": rng.gamma(20, 26 / 20, 50),
             "a": rng.gamma(20, 0.9 / 20, 50), "b": rng.gamma(20, 4 / 20, 50)}
    x = rng.integers(0, 30, 400).astype(float)
    T = rng.uniform(30, 1000, 400)
    hist = {"x": x, "t_x": np.where(x > 0, rng.uniform(0, 1, 400) * T, 0.0), "T": T}
    t = rng.choice([0.0, 30.0, 365.0, 2000.0], 400)
    for start, stop in ((0, 8), (1, 2), (3, 40), (50, 120)):
        block = model.prob_n_range(**draws, **hist, t=t, n_start=start, n_stop=stop)
        single = np.stack([model.prob_n_purchases(**draws, **hist, t=t, n=n) for n in range(start, stop)])
        assert block.shape == single.shape and np.all(block >= 0)
        # relative agreement wherever the probability is representable, down to 1e-250
        np.testing.assert_allclose(block[single > 1e-250], single[single > 1e-250], rtol=1e-10)
        np.testing.assert_array_equal(block[single == 0] == 0, True)
