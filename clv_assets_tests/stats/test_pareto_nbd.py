"""Pareto/NBD posterior quantities (clv_assets.stats.purchase.pareto_nbd) against
pymc-marketing."""

from __future__ import annotations

import numpy as np
import pytest
from model_draws import CANDIDATE_HIST as HIST
from model_draws import PNBD_DRAWS, draws_rows, fake_fit, histories_frame

from clv_assets.stats.purchase import pareto_nbd

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



def test_pareto_nbd_closed_forms_match_pymc_marketing_and_the_quadrature(pnbd):
    """The closed forms the predictions use (P(no order) and P(one order) of a customer
    alive at T, the no-order curve and its slope) against pymc-marketing's conditional PMF
    (which mixes in P(alive)) and the dropout-time quadrature, from 1 day to 3 years."""
    model, data = pnbd
    p_alive = pareto_nbd.pareto_nbd_p_alive(**PNBD_DRAWS, **HIST)
    hist_alive = dict(x=HIST["x"], T=HIST["T"])
    r1, a1, b1 = (pareto_nbd.as_draws(PNBD_DRAWS[k]) + pareto_nbd.as_rows(HIST[h]) for k, h in (("r", "x"), ("alpha", "T"), ("beta", "T")))
    s = pareto_nbd.as_draws(PNBD_DRAWS["s"])
    for t in (1.0, 30.0, 365.0, 1000.0):
        future = pareto_nbd.pareto_nbd_future_if_alive(**PNBD_DRAWS, **hist_alive, t=t)
        theirs = {n: draws_rows(model.expected_purchase_probability(data, n_purchases=n, future_t=t)) for n in (0, 1)}
        np.testing.assert_allclose(1.0 - p_alive * (1.0 - future["p_none"]), theirs[0], rtol=1e-6, err_msg=f"t={t}")
        np.testing.assert_allclose(p_alive * future["p_one"], theirs[1], rtol=1e-6, atol=1e-12, err_msg=f"t={t}")
        for n, name in ((0, "p_none"), (1, "p_one")):
            quadrature = pareto_nbd._pmf_by_quadrature(r1, a1, s, b1, t, n)
            np.testing.assert_allclose(future[name], quadrature, rtol=1e-7, atol=1e-13, err_msg=f"{name}, t={t}")
        curve = pareto_nbd.PARETO_NBD.p_none_if_alive(**PNBD_DRAWS, **hist_alive)
        row_t = np.full((1, N_ROWS), t)
        np.testing.assert_allclose(curve(row_t), future["p_none"], rtol=1e-12)
        h = 1e-3 * t
        numeric_slope = (curve(row_t + h) - curve(row_t - h)) / (2 * h)
        np.testing.assert_allclose(curve.slope(row_t), numeric_slope, rtol=1e-5, atol=1e-10)
        assert np.all(curve.slope(row_t) < 0)


def test_pareto_nbd_pmf_with_mixed_n_takes_each_n_from_its_own_path():
    """Rows asking for n = 0, 1 (closed forms) and n >= 2 (quadrature) in one call get what
    one call per n gives, and the PMF sums to 1 over n."""
    n = np.arange(N_ROWS) % 4
    mixed = pareto_nbd.pareto_nbd_prob_n_purchases(**PNBD_DRAWS, **HIST, t=120.0, n=n)
    for k in range(4):
        single = pareto_nbd.pareto_nbd_prob_n_purchases(**PNBD_DRAWS, **HIST, t=120.0, n=k)
        np.testing.assert_allclose(mixed[:, n == k], single[:, n == k], rtol=1e-12)
    total = sum(pareto_nbd.pareto_nbd_prob_n_purchases(**PNBD_DRAWS, **HIST, t=120.0, n=k) for k in range(200))
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
