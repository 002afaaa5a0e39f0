"""Gamma-Gamma with a covariate-dependent scale (clv_assets.stats.gamma_gamma_covariates):
its likelihood against numerical integration over the spend rate, its expected spend
against Gamma-Gamma's, and a fit on simulated spend with and without covariate effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from clv_assets.stats.gamma_gamma import gamma_gamma_expected_spend
from clv_assets.stats.gamma_gamma_covariates import GAMMA_GAMMA_COVARIATES
from clv_assets.stats.purchase.bgnbd_covariates import COVARIATES

TRUTH = {"p": 6.0, "q": 4.0, "v": 15.0}
EFFECTS = np.array([0.3, -0.25, 0.0, 0.2])


def simulate_spend(effects: np.ndarray, n: int = 4000, seed: int = 7) -> pd.DataFrame:
    """Repeat buyers: nu_i ~ Gamma(q, rate v exp(z'c)), x ~ 1 + Poisson(2) orders of value
    Gamma(p, rate nu_i); their mean and covariates (rounded value on the 0.25 grid)."""
    rng = np.random.default_rng(seed)
    rank = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.25, 0.2, 0.1])
    value = np.clip(np.round(rng.normal(0, 1, n) / 0.25) * 0.25, -3, 3)
    Z = np.column_stack([rank == 2, rank == 3, rank == 4, value]).astype(float)
    nu = rng.gamma(TRUTH["q"], 1.0 / (TRUTH["v"] * np.exp(Z @ effects)))
    x = 1 + rng.poisson(2.0, n)
    mean = np.array([rng.gamma(TRUTH["p"], 1.0 / nu[i], x[i]).mean() for i in range(n)])
    return pd.concat([pd.DataFrame({"frequency": x.astype(float), "monetary_value": np.round(mean, 2)}),
                      pd.DataFrame(Z, columns=list(COVARIATES))], axis=1)


@pytest.mark.fast
def test_likelihood_equals_numerical_integration_over_the_spend_rate():
    rows = simulate_spend(EFFECTS, n=12, seed=1).assign(n=[1.0, 2.0, 3.0] * 4)
    model = GAMMA_GAMMA_COVARIATES.build(rows)
    logp = model.compile_logp(vars=model.potentials, jacobian=False)
    data = GAMMA_GAMMA_COVARIATES.data(rows)
    for p, q, v_scaled, c in [(6.0, 4.0, 0.5, EFFECTS), (2.0, 3.0, 1.2, -EFFECTS), (9.0, 2.5, 0.3, np.zeros(4))]:
        point = {"p_log__": np.log(p), "q_log__": np.log(q), "v_scaled_log__": np.log(v_scaled), "spend_coefficient": c}
        expected = 0.0
        for x, z, n, zrow in zip(data["frequency"], data["z"], data["n"], data["Z"], strict=True):
            v_i = v_scaled * np.exp(zrow @ c)
            # the mean of x Gamma(p, nu) values is Gamma(p x, rate x nu); nu ~ Gamma(q, rate v_i)
            density = integrate.quad(
                lambda nu: stats.gamma.pdf(z, p * x, scale=1 / (x * nu)) * stats.gamma.pdf(nu, q, scale=1 / v_i), 0, np.inf,
                epsabs=0, epsrel=1e-11, limit=200,
            )[0]
            expected += n * np.log(density)
        np.testing.assert_allclose(logp(point), expected, rtol=1e-8)


@pytest.mark.fast
def test_expected_spend_is_gamma_gammas_at_each_customers_scale():
    rng = np.random.default_rng(2)
    draws = {"p": rng.uniform(5, 7, 30), "q": rng.uniform(3, 5, 30), "v": rng.uniform(10, 20, 30), "spend_coefficient": rng.normal(0, 0.3, (30, 4))}
    rows = simulate_spend(EFFECTS, n=20, seed=3)
    got = GAMMA_GAMMA_COVARIATES.expected_spend(draws, rows)
    for i, row in rows.iterrows():
        v_i = draws["v"] * np.exp(draws["spend_coefficient"] @ row[list(COVARIATES)].to_numpy(float))
        want = gamma_gamma_expected_spend(draws["p"], draws["q"], v_i, row.frequency, row.monetary_value)[:, 0]
        np.testing.assert_allclose(got[:, i], want, rtol=1e-12)


def _fit(rows):
    from clv_assets.stats.fitting import fit
    from clv_assets.stats.specs import FitSettings

    distinct = rows.groupby(list(GAMMA_GAMMA_COVARIATES.columns)).size().rename("n").reset_index()
    posterior = fit(GAMMA_GAMMA_COVARIATES, distinct, FitSettings(method="mcmc", draws=500, tune=500))
    assert posterior.divergences == 0
    coefficient = posterior.draws["spend_coefficient"].reshape(-1, 4)
    return posterior, np.quantile(coefficient, [0.05, 0.95], axis=0)


def test_fit_recovers_the_spend_effects_and_parameters_inside_their_90_intervals():
    posterior, (low, high) = _fit(simulate_spend(EFFECTS))
    print("spend ratios 5%..95%:", np.round(np.exp(low), 3), np.round(np.exp(high), 3))
    assert ((low <= EFFECTS) & (EFFECTS <= high)).all()
    for name, value in TRUTH.items():
        lo, hi = np.quantile(posterior.draws[name], [0.05, 0.95])
        assert lo <= value <= hi, (name, lo, hi)


def test_without_effects_the_spend_ratios_cover_one():
    _, (low, high) = _fit(simulate_spend(np.zeros(4), seed=8))
    assert ((np.exp(low) <= 1) & (1 <= np.exp(high))).all(), (np.exp(low), np.exp(high))
