"""What every model of the registry provides, checked model by model over the registry: each
part the graph calls (a model lacking one fails here, not in a run), its PMF against its
expectation, its "if alive" quantities against its conditional ones; and the registry
imports without PyMC. Each model's own test file checks its numbers against independent
computations (pymc-marketing, simulation, quadrature)."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest
from model_draws import CANDIDATE_HIST as HIST
from model_draws import posterior_around

from clv_assets.lib.warehouse import read_query, run_sql
from clv_assets.stats.numerics import NoOrderCurve
from clv_assets.stats.pooled import TRANSFORMS, pooled_priors
from clv_assets.stats.registry import DEFAULT_PURCHASE_MODEL, MODELS, PURCHASE_MODELS
from clv_assets.stats.specs import PurchaseModel, SpendModel

pytestmark = pytest.mark.fast

# the columns the graph's SQL gives a purchase model (sql/features/rfm.sql) and that the
# predictions and the backtest pass as x, t_x, T
HISTORY_COLUMNS = ("frequency", "recency", "T")
# distinct rows every model accepts (repeat buyers with a spend), with counts n
ROWS = pd.DataFrame(
    {
        "frequency": [1.0, 2.0, 5.0, 1.0, 3.0],
        "recency": [10.0, 40.0, 90.0, 3.0, 60.0],
        "T": [50.0, 60.0, 100.0, 30.0, 61.0],
        "monetary_value": [20.0, 35.5, 12.0, 8.0, 41.0],
        "n": [3.0, 1.0, 2.0, 5.0, 1.0],
    }
)


def _training_rows(model) -> pd.DataFrame:
    """The model's training-rows query (sql/queries/<training_rows>.sql) run on ROWS as the
    account's features.rfm, one row per customer."""
    customers = ROWS.loc[ROWS.index.repeat(ROWS["n"])].drop(columns="n").assign(account="shop")
    with duckdb.connect() as conn:
        conn.execute("CREATE SCHEMA features")
        conn.register("customers", customers)
        conn.execute("CREATE TABLE features.rfm AS SELECT * FROM customers")
        return run_sql(conn, read_query(model.training_rows), {"account": "shop"}).df()


@pytest.mark.parametrize("name", list(MODELS))
def test_a_registered_model_has_every_part_the_graph_calls(name):
    """Fitting (columns, training rows, priors, builder, draws kept), pooling (the pooled
    variables and their scales), the likelihood check (the pymc-marketing reference) and
    benchmarks (typical parameters) of any registered model."""
    import pymc as pm
    import pymc_marketing.clv

    model = MODELS[name]
    assert model.name == name and model.label
    assert isinstance(model, PurchaseModel if name in PURCHASE_MODELS else SpendModel)
    if name in PURCHASE_MODELS:
        assert model.columns == HISTORY_COLUMNS
    rows = _training_rows(model)
    assert list(rows.columns) == [*model.columns, "n"] and rows["n"].sum() == ROWS["n"].sum()
    assert isinstance(model.nuts_by_default, bool)
    assert tuple(model.typical_parameters) == model.parameters
    assert all(value > 0 for value in model.typical_parameters.values())

    # priors and builder: the sampled variables are the pooled ones, in the builder's order
    priors = model.priors()
    assert tuple(priors) == tuple(model.pooled_variables)
    built = model.build(rows)
    assert [rv.name for rv in built.free_RVs] == list(model.pooled_variables)
    assert {*model.parameters, *model.latent} <= set(built.named_vars)  # the draws the fit keeps
    assert np.isfinite(built.compile_logp()(built.initial_point()))
    if name in PURCHASE_MODELS:  # pooled from the stored draws (Gamma-Gamma's v_scaled is derived)
        assert set(model.pooled_variables) <= {*model.parameters, *model.latent}
    for variable, transform in model.pooled_variables.items():
        assert transform in TRANSFORMS
        # a probability (support up to 1) is pooled on the logit scale, anything else on the log
        bounded_by_one = not np.isfinite(pm.logp(built[variable], 1.5).eval())
        assert (transform == "logit") == bounded_by_one, variable

    # a small account's fit: every variable's prior replaced by a pooled one
    population = pd.DataFrame(
        {"parameter": list(model.pooled_variables), "transform": list(model.pooled_variables.values()), "mu": 0.0, "sigma": 1.0}
    )
    pooled = model.build(rows, pooled_priors(population))
    expected = {"log": "LogNormal", "logit": "LogitNormal"}
    assert [type(rv.owner.op).__name__.removesuffix("RV") for rv in pooled.free_RVs] == [
        expected[transform] for transform in model.pooled_variables.values()
    ]
    assert np.isfinite(pooled.compile_logp()(pooled.initial_point()))

    # the reference class exists; a purchase model's priors are its defaults
    reference = getattr(pymc_marketing.clv, model.reference)
    if name in PURCHASE_MODELS:
        assert set(priors) <= set(reference().default_model_config)


def test_every_model_has_its_own_label_and_the_default_is_registered():
    labels = [model.label for model in MODELS.values()]
    assert len(set(labels)) == len(labels)
    assert DEFAULT_PURCHASE_MODEL in PURCHASE_MODELS


@pytest.mark.parametrize("name", list(PURCHASE_MODELS))
def test_purchase_quantities_have_the_shapes_the_predictions_read(name):
    """Each posterior quantity the predictions, the backtest and the plots call, by the
    calling convention they use, gives (draws, rows) arrays of probabilities or counts."""
    model = PURCHASE_MODELS[name]
    draws = posterior_around(model)
    shape = (len(next(iter(draws.values()))), HIST["x"].size)
    t = 90.0
    p_alive = model.p_alive(**draws, **HIST)
    assert p_alive.shape == shape and np.all((p_alive >= 0) & (p_alive <= 1))
    expected = model.expected_purchases(**draws, **HIST, t=t)
    assert expected.shape == shape and np.all(np.isfinite(expected) & (expected >= 0))
    p_two = model.prob_n_purchases(**draws, **HIST, t=t, n=2)
    assert p_two.shape == shape and np.all((p_two >= 0) & (p_two <= 1))
    assert model.pmf_range(draws, **HIST, t=t, n_start=0, n_stop=5).shape == (5, *shape)
    future = model.future_if_alive(**draws, x=HIST["x"], T=HIST["T"], t=t)
    assert set(future) == {"expected", "p_none", "p_one"} and all(v.shape == shape for v in future.values())
    by_position = model.expected_if_alive(*(draws[k] for k in model.parameters), x=HIST["x"], T=HIST["T"], t=t)
    np.testing.assert_allclose(by_position, future["expected"], rtol=1e-12)
    curve = model.p_none_if_alive(**draws, x=HIST["x"], T=HIST["T"])
    assert isinstance(curve, NoOrderCurve)
    np.testing.assert_allclose(curve(np.full((1, shape[1]), t)), future["p_none"], rtol=1e-10)
    assert np.all(curve.slope(np.full((1, shape[1]), t)) < 0)


@pytest.mark.parametrize("name", list(PURCHASE_MODELS))
def test_future_if_alive_times_p_alive_gives_the_conditional_quantities(name):
    """What the predictions compute once per (frequency, T) and mix with P(alive) equals
    the model's conditional expectation and PMF (n = 0, 1) of each history."""
    model = PURCHASE_MODELS[name]
    draws = posterior_around(model)
    for t in (7.0, 365.0):
        future = model.future_if_alive(**draws, x=HIST["x"], T=HIST["T"], t=t)
        p_alive = model.p_alive(**draws, **HIST)
        np.testing.assert_allclose(p_alive * future["expected"], model.expected_purchases(**draws, **HIST, t=t), rtol=1e-12)
        p0, p1 = (model.prob_n_purchases(**draws, **HIST, t=t, n=n) for n in (0, 1))
        np.testing.assert_allclose(1 - p_alive * (1 - future["p_none"]), p0, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(p_alive * future["p_one"], p1, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("name", list(PURCHASE_MODELS))
def test_pmf_sums_to_one_and_its_mean_is_the_expectation(name):
    model = PURCHASE_MODELS[name]
    draws = posterior_around(model)
    t = 273.0
    ns = np.arange(0, 400)
    pmf = np.stack([model.prob_n_purchases(**draws, **HIST, t=t, n=n) for n in ns])
    assert np.all(pmf >= -1e-15) and np.all(np.isfinite(pmf))
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, rtol=1e-7)
    mean = (ns[:, None, None] * pmf).sum(axis=0)
    np.testing.assert_allclose(mean, model.expected_purchases(**draws, **HIST, t=t), rtol=1e-6)


@pytest.mark.parametrize("name", list(PURCHASE_MODELS))
def test_pmf_range_is_prob_n_purchases_for_each_n(name):
    """The block of n the backtest's intervals and the repeat-order plot read (a model's
    ``prob_n_range``, sharing work between the n) against one ``prob_n_purchases`` call per
    n, deep into the tail, at t = 0 and for one-time buyers."""
    model = PURCHASE_MODELS[name]
    rng = np.random.default_rng(4)
    draws = posterior_around(model, n_draws=20, spread=0.2, seed=4)
    n = 150
    x = rng.integers(0, 30, n).astype(float)
    T = rng.uniform(30, 1000, n)
    hist = {"x": x, "t_x": np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0), "T": T}
    t = rng.choice([0.0, 30.0, 365.0, 2000.0], n)
    for start, stop in ((0, 8), (1, 2), (3, 40), (50, 120)):
        block = model.pmf_range(draws, **hist, t=t, n_start=start, n_stop=stop)
        single = np.stack([model.prob_n_purchases(**draws, **hist, t=t, n=n) for n in range(start, stop)])
        assert block.shape == single.shape and np.all(block >= 0)
        # relative agreement wherever the probability is representable, down to 1e-250
        np.testing.assert_allclose(block[single > 1e-250], single[single > 1e-250], rtol=1e-10)
        np.testing.assert_array_equal(block[single == 0] == 0, True)


def test_registry_imports_without_pymc():
    """Definitions and the CLI import the registry: PyMC and friends load only when a model is built."""
    heavy = ("pymc", "pytensor", "pymc_extras", "pymc_marketing", "arviz", "matplotlib")
    code = f"import sys, clv_assets.stats.registry; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
