"""Fitting on distinct rows with counts has the same log-posterior as the customer-level model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc_marketing.clv
import pytest
from pymc_marketing.clv import GammaGammaModel

from clv_assets.stats.gamma_gamma import gamma_gamma_model, spend_scale
from clv_assets.stats.registry import PURCHASE_MODELS

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


@pytest.mark.parametrize("name", list(PURCHASE_MODELS))
def test_purchase_model_weighted_log_posterior_equals_customer_level(name):
    """Each registered purchase model on distinct rows with counts against its
    pymc-marketing class (``reference``) on the customers, with the same priors: the
    log-posterior and its gradient at random points around the prior's initial point."""
    model = PURCHASE_MODELS[name]
    customers = _customers()
    distinct = customers.groupby(list(model.columns)).size().rename("n").reset_index()
    assert len(distinct) < len(customers)  # the compression is real
    reference = getattr(pymc_marketing.clv, model.reference)(model_config=model.priors())
    reference.build_model(customers[["customer_id", *model.columns]])
    ours = model.build(distinct)
    assert {v.name for v in ours.value_vars} == {v.name for v in reference.model.value_vars}
    ref_logp, our_logp = reference.model.compile_logp(), ours.compile_logp()
    ref_dlogp, our_dlogp = _gradient(reference.model), _gradient(ours)
    rng = np.random.default_rng(0)
    start = ours.initial_point()
    for _ in range(5):
        point = {k: v + rng.normal(0, 0.5) for k, v in start.items()}
        np.testing.assert_allclose(our_logp(point), ref_logp(point), rtol=1e-10)
        ref_gradient = ref_dlogp(point)
        for variable, value in our_dlogp(point).items():
            np.testing.assert_allclose(value, ref_gradient[variable], rtol=1e-8, err_msg=variable)


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


def test_rows_outside_the_models_are_a_clear_error():
    """Where pymc-marketing's logp would silently make the posterior -inf."""
    from clv_assets.stats.gamma_gamma import GAMMA_GAMMA
    from clv_assets.stats.purchase.bgnbd import BGNBD

    bad = pd.DataFrame({"frequency": [2.0, 1.0], "recency": [50.0, 90.0], "T": [60.0, 80.0], "n": [3.0, 1.0]})
    with pytest.raises(ValueError, match=r"1 row\(s\) are not histories .*recency=90.0, T=80.0"):
        BGNBD.data(bad)
    with pytest.raises(ValueError, match="repeat buyers"):
        GAMMA_GAMMA.data(pd.DataFrame({"frequency": [0.0], "monetary_value": [10.0], "n": [1.0]}))
