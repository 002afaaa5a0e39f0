"""The Laplace approximation used for very large accounts agrees with NUTS."""

from __future__ import annotations

import pytest
from test_fitting import CASES

from clv_assets.stats.fitting import fit, summarize
from clv_assets.stats.specs import FitSettings


@pytest.mark.parametrize("case", ["bgnbd", "gamma_gamma"])
def test_laplace_agrees_with_nuts_on_a_100k_customer_account(case):
    """What ``method: auto`` switches to above ``max_mcmc_rows`` distinct rows (Laplace on
    the exact Hessian) against NUTS on the same large account:
    100,000 BG/NBD customers, 50,000 Gamma-Gamma repeat buyers."""
    spec, simulate, _, parameters, _ = CASES[case]
    rows = simulate()
    assert len(rows) > FitSettings().max_mcmc_rows  # an account auto would fit by Laplace
    # 2 x 500 draws after 500 tuning steps: ESS ~1,000, half the default's time in the suite
    nuts = summarize(fit(spec, rows, FitSettings(method="mcmc", draws=500, tune=500)), parameters).set_index("parameter")
    laplace = summarize(fit(spec, rows, FitSettings(method="laplace")), parameters).set_index("parameter")
    for name in parameters:
        n, lap = nuts.loc[name], laplace.loc[name]
        assert n["r_hat"] < 1.01 and n["ess_bulk"] > 400, (name, n["r_hat"], n["ess_bulk"])
        # NUTS's own Monte-Carlo error on the sd is ~2-3% at ESS ~1000
        assert abs(lap["mean"] - n["mean"]) <= 0.1 * n["sd"], (name, lap["mean"], n["mean"], n["sd"])
        assert abs(lap["sd"] / n["sd"] - 1) <= 0.1, (name, lap["sd"], n["sd"])
