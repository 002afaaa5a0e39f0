"""Fitting on distinct rows with counts has the same log-posterior as the customer-level model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest
from pymc_extras.prior import Prior
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel

from clv_assets.stats.fitting import PRIOR_TIME_UNIT_DAYS
from clv_assets.stats.gamma_gamma import gamma_gamma_model, spend_scale
from clv_assets.stats.purchase.bgnbd import bgnbd_model
from clv_assets.stats.purchase.mbgnbd import mbgnbd_model

pytestmark = pytest.mark.fast


def _gradient(model, potential_only=False):
    """point -> {value variable: d log-density / d value}, the whole model's or its
    likelihood potential's alone."""
    import pytensor

    value_vars = model.value_vars
    density = model.replace_rvs_by_values(model.potentials)[0].sum() if potential_only else model.logp()
    function = pytensor.function(value_vars, pytensor.grad(density, value_vars), on_unused_input="ignore")
    return lambda point: dict(zip([v.name for v in value_vars], function(*(point[v.name] for v in value_vars))))


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
    ref_dlogp, our_dlogp = _gradient(reference.model), _gradient(ours)
    rng = np.random.default_rng(0)
    for _ in range(5):
        point = {
            "alpha_log__": rng.normal(3, 0.5),
            "r_log__": rng.normal(-0.5, 0.5),
            "phi_dropout_interval__": rng.normal(0, 1),
            "kappa_dropout_interval__": rng.normal(1, 0.5),
        }
        np.testing.assert_allclose(our_logp(point), ref_logp(point), rtol=1e-10)
        ref_gradient = ref_dlogp(point)
        for name, value in our_dlogp(point).items():
            np.testing.assert_allclose(value, ref_gradient[name], rtol=1e-8, err_msg=name)


def test_gamma_gamma_weighted_log_likelihood_equals_customer_level():
    """Our model's likelihood (per-frequency terms, spend in units of the account's mean)
    against pymc-marketing's customer-level ``GammaGammaModel`` potential, values and
    gradients: they differ by the scaling's Jacobian, N log(scale), alone."""
    customers = _customers()
    repeat = customers[customers.frequency > 0]
    distinct = repeat.groupby(["frequency", "monetary_value"]).size().rename("n").reset_index()
    assert len(distinct) < len(repeat)
    reference = GammaGammaModel()
    reference.build_model(repeat[["customer_id", "frequency", "monetary_value"]])
    ours = gamma_gamma_model(distinct)
    scale = spend_scale(distinct)
    ref_value = reference.model.compile_logp(vars=reference.model.potentials, jacobian=False)
    our_value = ours.compile_logp(vars=ours.potentials, jacobian=False)
    ref_grad, our_grad = _gradient(reference.model, potential_only=True), _gradient(ours, potential_only=True)
    for p, q, v in [(6.25, 3.74, 15.44), (1.5, 2.0, 40.0), (10.0, 8.0, 3.0)]:
        ref_point = {"p_log__": np.log(p), "q_log__": np.log(q), "v_log__": np.log(v)}
        our_point = {"p_log__": np.log(p), "q_log__": np.log(q), "v_scaled_log__": np.log(v / scale)}
        np.testing.assert_allclose(our_value(our_point) - len(repeat) * np.log(scale), ref_value(ref_point), rtol=1e-9)
        # d/d log v is the same whatever the unit of v
        ours_by_name, ref_by_name = our_grad(our_point), ref_grad(ref_point)
        for ref_name, our_name in [("p_log__", "p_log__"), ("q_log__", "q_log__"), ("v_log__", "v_scaled_log__")]:
            np.testing.assert_allclose(ours_by_name[our_name], ref_by_name[ref_name], rtol=1e-8, err_msg=ref_name)


def test_pareto_nbd_weighted_log_posterior_equals_customer_level():
    from pymc_marketing.clv import ParetoNBDModel

    from clv_assets.stats.purchase.pareto_nbd import pareto_nbd_model

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


def test_rows_outside_the_models_are_a_clear_error():
    """Where pymc-marketing's logp would silently make the posterior -inf."""
    from clv_assets.stats.gamma_gamma import GAMMA_GAMMA
    from clv_assets.stats.purchase.bgnbd import BGNBD

    bad = pd.DataFrame({"frequency": [2.0, 1.0], "recency": [50.0, 90.0], "T": [60.0, 80.0], "n": [3.0, 1.0]})
    with pytest.raises(ValueError, match=r"1 row\(s\) are not histories .*recency=90.0, T=80.0"):
        BGNBD.data(bad)
    with pytest.raises(ValueError, match="repeat buyers"):
        GAMMA_GAMMA.data(pd.DataFrame({"frequency": [0.0], "monetary_value": [10.0], "n": [1.0]}))
