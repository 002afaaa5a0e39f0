"""BG/NBD with purchase and dropout covariates (clv_assets.stats.purchase.bgnbd_covariates):
its weighted likelihood against pymc-marketing's ``BetaGeoModel`` with covariate columns,
and a fit on simulated accounts with and without covariate effects (truth known)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pymc_marketing.clv import BetaGeoModel

from clv_assets.stats.purchase.bgnbd_covariates import BGNBD_COVARIATES, COVARIATES, distinct_rows, priors


def _gradient(model):
    import pytensor

    value_vars = model.value_vars
    function = pytensor.function(value_vars, pytensor.grad(model.logp(), value_vars), on_unused_input="ignore")
    return lambda point: dict(zip([v.name for v in value_vars], function(*(point[v.name] for v in value_vars))))


def _customers_with_covariates(n=500, seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 120, n).astype(float)
    frequency = rng.poisson(1.0, n).astype(float)
    recency = np.where(frequency > 0, np.floor(rng.uniform(0.3, 1.0, n) * T), 0.0)
    rank = rng.choice([1, 2, 3, 4], n, p=[0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame({
        "customer_id": range(n), "frequency": frequency, "recency": recency, "T": T,
        "channel_2": (rank == 2) * 1.0, "channel_3": (rank == 3) * 1.0, "channel_other": (rank == 4) * 1.0,
        "value_z": rng.choice([-1.0, -0.25, 0.0, 0.5, 1.5], n),
    })


@pytest.mark.fast
def test_weighted_log_posterior_equals_pymc_marketing_with_covariates():
    """On distinct rows with counts against ``BetaGeoModel(purchase_covariate_cols=...,
    dropout_covariate_cols=...)`` on the customers, same priors: the log-posterior and its
    gradient at random points."""
    customers = _customers_with_covariates()
    distinct = distinct_rows(customers)
    assert len(distinct) < len(customers)
    config = {
        "alpha": priors()["alpha_scale"], "r": priors()["r"], "phi_dropout": priors()["phi_dropout"],
        "kappa_dropout": priors()["kappa_dropout"],
        "purchase_covariate_cols": list(COVARIATES), "dropout_covariate_cols": list(COVARIATES),
    }
    reference = BetaGeoModel(model_config=config)
    reference.build_model(customers)
    ours = BGNBD_COVARIATES.build(distinct)
    assert {v.name for v in ours.value_vars} == {v.name for v in reference.model.value_vars}
    ref_logp, our_logp = reference.model.compile_logp(), ours.compile_logp()
    ref_dlogp, our_dlogp = _gradient(reference.model), _gradient(ours)
    rng = np.random.default_rng(0)
    start = ours.initial_point()
    for _ in range(5):
        point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in start.items()}
        np.testing.assert_allclose(our_logp(point), ref_logp(point), rtol=1e-10)
        ref_gradient = ref_dlogp(point)
        for variable, value in our_dlogp(point).items():
            np.testing.assert_allclose(value, ref_gradient[variable], rtol=1e-8, err_msg=variable)
