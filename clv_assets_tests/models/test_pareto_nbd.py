"""Pareto/NBD posterior quantities (clv_assets.models.purchase.pareto_nbd) against
pymc-marketing."""

from __future__ import annotations

import numpy as np
import pytest
from model_draws import CANDIDATE_HIST as HIST
from model_draws import PNBD_DRAWS, draws_rows, fake_fit, histories_frame

from clv_assets.models.purchase import pareto_nbd

pytestmark = pytest.mark.fast
N_ROWS = HIST["x"].size


@pytest.fixture(scope="module")
def pnbd():
    from pymc_marketing.clv import ParetoNBDModel

    data = histories_frame(HIST, monetary=None)
    return fake_fit(ParetoNBDModel(), PNBD_DRAWS, data), data


def test_pareto_nbd_quantities_match_pymc_marketing(pnbd):
    model, data = pnbd
    np.testing.assert_allclose(
        pareto_nbd.pareto_nbd_p_alive(**PNBD_DRAWS, **HIST), draws_rows(model.expected_probability_alive(data)), rtol=1e-8
    )
    for t in (7.0, 273.0):
        np.testing.assert_allclose(
            pareto_nbd.pareto_nbd_expected_purchases(**PNBD_DRAWS, **HIST, t=t),
            draws_rows(model.expected_purchases(data, future_t=t)),
            rtol=1e-7,
        )
        for n in (0, 1, 2, 4):
            ours = pareto_nbd.pareto_nbd_prob_n_purchases(**PNBD_DRAWS, **HIST, t=t, n=n)
            theirs = draws_rows(model.expected_purchase_probability(data, n_purchases=n, future_t=t))
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-10, err_msg=f"n={n}, t={t}")
    new = model.expected_purchases_new_customer(data, t=np.full(N_ROWS, 100.0))
    np.testing.assert_allclose(
        pareto_nbd.pareto_nbd_expected_purchases(**PNBD_DRAWS, x=0, t_x=0.0, T=0.0, t=100.0)[:, 0], draws_rows(new)[:, 0], rtol=1e-7
    )


def test_pareto_nbd_expected_purchases_is_continuous_at_s_equal_one():
    at_one = dict(PNBD_DRAWS, s=np.ones(4))
    near = dict(PNBD_DRAWS, s=np.full(4, 1.0 + 1e-7))
    np.testing.assert_allclose(
        pareto_nbd.pareto_nbd_expected_purchases(**at_one, **HIST, t=90.0),
        pareto_nbd.pareto_nbd_expected_purchases(**near, **HIST, t=90.0),
        rtol=1e-6,
    )

