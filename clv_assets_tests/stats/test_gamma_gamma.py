"""Gamma-Gamma expected spend (clv_assets.stats.gamma_gamma) against pymc-marketing."""

from __future__ import annotations

import numpy as np
import pytest
from model_draws import GG_DRAWS, HIST, MONETARY, N_DRAWS, N_ROWS, draws_rows, fake_fit, histories_frame

from clv_assets.stats.gamma_gamma import gamma_gamma_expected_spend

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def gamma_gamma():
    """GammaGammaModel with a fake (1 chain x 6 draws) posterior."""
    from pymc_marketing.clv import GammaGammaModel

    df = histories_frame()
    return fake_fit(GammaGammaModel(), GG_DRAWS, df[df["frequency"] > 0]), df


def test_expected_spend_matches_pymc_marketing(gamma_gamma):
    gg, df = gamma_gamma
    expected = draws_rows(gg.expected_customer_spend(df))
    got = gamma_gamma_expected_spend(**GG_DRAWS, x=HIST["x"], m=MONETARY)
    assert got.shape == (N_DRAWS, N_ROWS)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # x = 0 -> population mean p v / (q - 1)
    pop = GG_DRAWS["p"] * GG_DRAWS["v"] / (GG_DRAWS["q"] - 1)
    np.testing.assert_allclose(got[:, 0], pop, rtol=1e-12)


def test_expected_spend_nan_where_expectation_undefined():
    got = gamma_gamma_expected_spend(
        p=[2.0, 2.0], q=[0.5, 3.0], v=[10.0, 10.0], x=[0, 3], m=[np.nan, 20.0]
    )
    assert np.isnan(got[0, 0])  # q <= 1 and x = 0: population mean does not exist
    assert np.isfinite(got[0, 1]) and np.isfinite(got[1]).all()  # m ignored when x = 0
    np.testing.assert_allclose(got[1, 0], 2.0 * 10.0 / 2.0)
