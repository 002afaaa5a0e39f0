"""Fitting on distinct rows with counts has the same log-posterior as the customer-level model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest
from pymc_extras.prior import Prior
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel

from clv_assets.models.fitting import PRIOR_TIME_UNIT_DAYS
from clv_assets.models.gamma_gamma import gamma_gamma_loglik
from clv_assets.models.purchase.bgnbd import bgnbd_model
from clv_assets.models.purchase.mbgnbd import mbgnbd_model

pytestmark = pytest.mark.fast


def _customers(n=400, seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 120, n).astype(float)
    frequency = rng.poisson(1.0, n).astype(float)
    recency = np.where(frequency > 0, np.floor(rng.uniform(0.3, 1.0, n) * T), 0.0)
    spend = np.where(frequency > 0, rng.choice([9.99, 20.0, 35.5], n), 0.0)
    return pd.DataFrame(
        {"customer_id": range(n), "frequency": frequency, "recency": recency, "T": T, "monetary_value": spend}
    )


@pytest.mark.parametrize("builder, reference_model", [(bgnbd_model, BetaGeoModel), (mbgnbd_model, ModifiedBetaGeoModel)])
def test_beta_geo_weighted_log_posterior_equals_customer_level(builder, reference_model):
    customers = _customers()
    distinct = customers.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    assert len(distinct) < len(customers)  # the compression is real
    reference = reference_model(model_config={"alpha": Prior("Weibull", alpha=2, beta=10 * PRIOR_TIME_UNIT_DAYS)})
    reference.build_model(customers[["customer_id", "frequency", "recency", "T"]])
    ours = builder(distinct)
    ref_logp, our_logp = reference.model.compile_logp(), ours.compile_logp()
    rng = np.random.default_rng(0)
    for _ in range(5):
        point = {
            "alpha_log__": rng.normal(3, 0.5),
            "r_log__": rng.normal(-0.5, 0.5),
            "phi_dropout_interval__": rng.normal(0, 1),
            "kappa_dropout_interval__": rng.normal(1, 0.5),
        }
        np.testing.assert_allclose(our_logp(point), ref_logp(point), rtol=1e-10)


def test_gamma_gamma_weighted_log_likelihood_equals_customer_level():
    customers = _customers()
    repeat = customers[customers.frequency > 0]
    distinct = repeat.groupby(["frequency", "monetary_value"]).size().rename("n").reset_index()
    assert len(distinct) < len(repeat)
    reference = GammaGammaModel()
    reference.build_model(repeat[["customer_id", "frequency", "monetary_value"]])
    potential = reference.model.compile_logp(vars=reference.model.potentials, jacobian=False)
    for p, q, v in [(6.25, 3.74, 15.44), (1.5, 2.0, 40.0), (10.0, 8.0, 3.0)]:
        point = {"p_log__": np.log(p), "q_log__": np.log(q), "v_log__": np.log(v)}
        ours = pt.dot(
            distinct["n"].to_numpy(float),
            gamma_gamma_loglik(p, q, v, distinct["frequency"].to_numpy(float), distinct["monetary_value"].to_numpy(float)),
        ).eval()
        np.testing.assert_allclose(ours, potential(point), rtol=1e-7)  # exp(log(p)) round trip


def test_pareto_nbd_weighted_log_posterior_equals_customer_level():
    from pymc_marketing.clv import ParetoNBDModel

    from clv_assets.models.purchase.pareto_nbd import pareto_nbd_model

    customers = _customers()
    distinct = customers.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    days = 10 * PRIOR_TIME_UNIT_DAYS
    reference = ParetoNBDModel(
        model_config={"alpha": Prior("Weibull", alpha=2, beta=days), "beta": Prior("Weibull", alpha=2, beta=days)}
    )
    reference.build_model(customers[["customer_id", "frequency", "recency", "T"]])
    ref_logp, our_logp = reference.model.compile_logp(), pareto_nbd_model(distinct).compile_logp()
    rng = np.random.default_rng(2)
    for _ in range(5):
        point = {
            "r_log__": rng.normal(-0.5, 0.5),
            "alpha_log__": rng.normal(4, 0.5),
            "s_log__": rng.normal(-0.5, 0.5),
            "beta_log__": rng.normal(4, 0.5),
        }
        np.testing.assert_allclose(our_logp(point), ref_logp(point), rtol=1e-9)
