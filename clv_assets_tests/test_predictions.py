"""predictions.customers and the fit assets, through real materialisations."""

from __future__ import annotations

import json
import warnings

import arviz as az
import dagster as dg
import numpy as np
import pandas as pd
import pytest
from clv_assets.lib.resources import warehouse_resource
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

from clv_assets.definitions import build_defs
from clv_assets.lib.prediction_config import PredictionConfig
from clv_assets.lib.draws import load_draws
from clv_assets.lib.keys import ACCOUNT_JOB, CUSTOMER_PREDICTIONS
from clv_assets.lib.run_config import account_run_config
from clv_assets.lib.warehouse import read_query


def _customers(workspace, account) -> pd.DataFrame:
    return workspace.query(
        "SELECT f.customer_id, f.frequency, f.recency, f.\"T\", f.monetary_value, p.* EXCLUDE (account, customer_id) "
        "FROM features.rfm f JOIN predictions.customers p USING (account, customer_id) "
        "WHERE account = $a ORDER BY customer_id",
        {"a": account},
    )


def test_one_prediction_per_customer(workspace):
    for truth in workspace.truths:
        account = truth["account"]
        assert workspace.count("predictions.customers", account) == workspace.count("features.rfm", account)
        fits = workspace.query("SELECT * FROM models.fits WHERE account = $a", {"a": account})
        assert set(fits.parameter) == {"r", "alpha", "a", "b", "p", "q", "v"}
        assert fits.diagnostics_passed.all() and (fits.method == "mcmc").all()
        assert (fits.r_hat <= 1.01).all() and (fits.ess_bulk >= 400).all() and (fits.divergences == 0).all()
        assert (fits.n_distinct_rows <= fits.n_customers).all()


def test_predictions_match_pymc_marketing_on_the_same_posterior(workspace):
    account = workspace.truths[0]["account"]
    customers = _customers(workspace, account)
    with warehouse_resource(workspace.warehouse).get_connection() as conn:
        n = PredictionConfig().draws
        bg_draws, _ = load_draws(conn, account, "bgnbd", n)
        gg_draws, _ = load_draws(conn, account, "gamma_gamma", n)
    data = customers[["customer_id", "frequency", "recency", "T", "monetary_value"]].astype(
        {"frequency": float, "recency": float, "T": float}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = BetaGeoModel()
        bg.build_model(data)
        gg = GammaGammaModel()
        gg.build_model(data[data.frequency > 0])
    bg.idata = az.from_dict({"posterior": {k: bg_draws[k][None, :] for k in ("r", "alpha", "a", "b")}})
    gg.idata = az.from_dict({"posterior": {k: gg_draws[k][None, :] for k in ("p", "q", "v")}})

    def mean(da):
        return da.mean(("chain", "draw")).values

    horizon = 365
    np.testing.assert_allclose(customers.p_alive, mean(bg.expected_probability_alive(data)), rtol=1e-8)
    purchases = bg.expected_purchases(data, future_t=horizon)
    np.testing.assert_allclose(customers.expected_orders, mean(purchases), rtol=1e-6)
    # pymc-marketing's P(no purchase) lets a customer without repeat purchases have died,
    # which BG/NBD rules out (see clv_assets.stats.purchase.bgnbd); compare repeat buyers
    repeat = (customers.frequency > 0).to_numpy()
    no_purchase = mean(bg.expected_probability_no_purchase(horizon, data))
    np.testing.assert_allclose(customers.churn_probability[repeat], no_purchase[repeat], rtol=1e-6)
    spend = gg.expected_customer_spend(data)  # population mean for one-time buyers
    np.testing.assert_allclose(customers.expected_aov, mean(spend), rtol=1e-6)
    clv = (purchases * spend).mean(("chain", "draw")).values
    np.testing.assert_allclose(customers.predicted_spend, clv, rtol=1e-6)


def test_prediction_invariants(workspace):
    for truth in workspace.truths:
        c = _customers(workspace, truth["account"])
        assert np.allclose(c.churn_probability, 1 - c.p_order)
        assert (c.p_multiple_orders <= c.p_order).all() and (c.p_multiple_orders >= 0).all()
        for name in ("p_alive", "expected_orders", "p_order", "expected_aov", "predicted_spend"):
            assert (c[f"{name}_p05"] <= c[name] + 1e-9).all() and (c[name] <= c[f"{name}_p95"] + 1e-9).all()
        one_time = c[c.frequency == 0]
        assert np.allclose(one_time.p_alive, 1.0)  # BG/NBD: no repeat purchase, no dropout yet
        assert (one_time.churn_probability > 0.05).all()  # churn is not 1 - P(alive)
        dated = c.dropna(subset=["expected_next_order_date"])
        assert (dated.p_order >= 0.5).all()
        assert (pd.to_datetime(dated.expected_next_order_date) > pd.to_datetime(dated.as_of)).all()
        assert c.expected_next_order_date[c.p_order < 0.49].isna().all()


def _run(account: str, run_config: dict) -> dg.ExecuteInProcessResult:
    job = build_defs().resolve_job_def(ACCOUNT_JOB)
    return job.execute_in_process(
        instance=dg.DagsterInstance.get(), partition_key=account, run_config=run_config, raise_on_error=False
    )


def _run_predictions(account: str) -> dg.ExecuteInProcessResult:
    defs = build_defs()
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={CUSTOMER_PREDICTIONS})
    return job.execute_in_process(instance=dg.DagsterInstance.get(), partition_key=account, raise_on_error=False)


def test_failed_diagnostics_keep_last_good_draws_and_predictions(workspace):
    account = workspace.truths[-1]["account"]
    snapshots = [
        "SELECT * FROM predictions.customers WHERE account = $a ORDER BY ALL",
        "SELECT * FROM models.posterior_draws WHERE account = $a AND model = 'bgnbd' ORDER BY ALL",
    ]
    before = {sql: workspace.query(sql, {"a": account}) for sql in snapshots}
    config = account_run_config(workspace.as_of)
    # 30 draws cannot reach 400 effective draws: the blocking check must fail
    config["ops"]["purchase_model_fit"] = {"config": {"draws": 30, "tune": 30}}
    result = _run(account, config)
    assert not result.success
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations[("models/purchase_model", "enough_effective_draws")] is False
    assert "predictions__customers" not in {e.step_key for e in result.all_events if e.is_step_success}
    for sql, frame in before.items():
        pd.testing.assert_frame_equal(workspace.query(sql, {"a": account}), frame)
    status = workspace.query(
        "SELECT status, reason FROM models.fit_status WHERE account = $a AND model = 'bgnbd'", {"a": account}
    )
    assert status.status[0] == "failed_diagnostics" and "enough_effective_draws" in status.reason[0]
    assert not workspace.query(
        "SELECT diagnostics_passed FROM models.fits WHERE account = $a AND model = 'bgnbd'", {"a": account}
    ).diagnostics_passed.any()


def test_ineligible_account_is_recorded_and_not_fitted(workspace):
    folder = workspace.landing / "tiny-shop"
    folder.mkdir()
    rows = ["order_id,customer_id,ordered_at,amount,currency"]
    rows += [f"o{i},c{i % 5},2025-0{1 + i % 6}-1{i % 9}T10:00:00,{10 + i},EUR" for i in range(12)]
    (folder / "orders.csv").write_text("\n".join(rows) + "\n")
    try:
        from clv_assets.cli import main

        assert main(["materialize", "--account", "tiny-shop", "--as-of", "2025-12-31"]) == 0
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    status = workspace.query("SELECT * FROM models.fit_status WHERE account = 'tiny-shop' ORDER BY model")
    assert list(status.status) == ["ineligible", "ineligible"]
    assert status.reason.str.contains("min_customers").all()
    assert workspace.count("predictions.customers", "tiny-shop") == 0
    assert workspace.count("features.rfm", "tiny-shop") == 5
    materialization = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey(["models", "purchase_model"]))
    assert materialization.asset_materialization.metadata["status"].value == "ineligible"
    # the marts still describe the account: its history, and why nothing is predicted
    summary = workspace.query("SELECT * FROM marts.account_summary WHERE account = 'tiny-shop'")
    assert summary.customers[0] == 5 and "min_customers" in summary.model_status[0]
    assert workspace.count("marts.customer_profile", "tiny-shop") == 5
    # not stale for the freshness check: it was predicted (as nothing) just now
    last = workspace.query(read_query("last_predictions"), {"accounts": ["tiny-shop"]})
    assert (pd.Timestamp.now(tz="UTC") - pd.Timestamp(last.last_at[0])).total_seconds() < 3600


def test_settings_file_model_is_fitted_and_served(workspace):
    """``"model": "mbgnbd"`` in an account's settings file: MBG/NBD is fitted and every
    prediction is MBG/NBD's (pymc-marketing's ModifiedBetaGeoModel on the stored draws);
    an unknown model fails the fit with one line and keeps what is stored."""
    from clv_assets.cli import main
    from pymc_marketing.clv import ModifiedBetaGeoModel

    source = workspace.landing / workspace.truths[0]["account"]
    folder = workspace.landing / "modified-shop"
    folder.mkdir()
    try:
        for path in source.glob("*.csv"):
            (folder / path.name).write_text(path.read_text())
        (folder / "_account.json").write_text('{"model": "mbgnbd"}')
        assert main(["materialize", "--account", folder.name, "--as-of", workspace.as_of.isoformat(), "--method", "laplace"]) == 0
        customers = _customers(workspace, folder.name)
        assert (customers.purchase_model == "mbgnbd").all()
        summary = workspace.query("SELECT * FROM marts.account_summary WHERE account = $a", {"a": folder.name}).iloc[0]
        assert summary.served_model == "mbgnbd" and summary.served_model_reason == "mbgnbd requested"
        with warehouse_resource(workspace.warehouse).get_connection() as conn:
            draws, _ = load_draws(conn, folder.name, "mbgnbd", PredictionConfig().draws)
        data = customers[["frequency", "recency", "T"]].astype(float).assign(customer_id=customers.customer_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = ModifiedBetaGeoModel()
            reference.build_model(data)
        reference.idata = az.from_dict({"posterior": {k: draws[k][None, :] for k in ("r", "alpha", "a", "b")}})
        mean = lambda da: da.mean(("chain", "draw")).values  # noqa: E731
        np.testing.assert_allclose(customers.p_alive, mean(reference.expected_probability_alive(data)), rtol=1e-8)
        np.testing.assert_allclose(
            customers.expected_orders, mean(reference.expected_purchases(data, future_t=365)), rtol=1e-6
        )
        one_time = customers[customers.frequency == 0]
        assert (one_time.p_alive < 1).all()  # MBG/NBD: a one-time buyer may have lapsed
        bands = workspace.query("SELECT * FROM bands.customers WHERE account = $a", {"a": folder.name})
        assert bands.predicted_spend_band_confidence.between(0, 1).all()

        stored = workspace.query("SELECT * FROM predictions.customers WHERE account = $a ORDER BY ALL", {"a": folder.name})
        (folder / "_account.json").write_text('{"model": "gbm"}')
        result = _run(folder.name, account_run_config(workspace.as_of, "laplace"))
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.message.strip()
        assert "purchase model must be" in message and "gbm" in message and len(message.splitlines()) == 1
        pd.testing.assert_frame_equal(
            workspace.query("SELECT * FROM predictions.customers WHERE account = $a ORDER BY ALL", {"a": folder.name}), stored
        )
        # a bad "predictions" entry fails with one line naming the key, when the settings file is read
        for bad, expected in (
            ({"purchase_horizon_days": 0}, "key 'predictions.purchase_horizon_days': Input should be greater than 0"),
            ({"purchase_horizon": 14}, "key 'predictions.purchase_horizon': Input should be 'horizon_days'"),
            ([30], "key 'predictions': Input should be a valid dictionary"),
        ):
            (folder / "_account.json").write_text(json.dumps({"model": "mbgnbd", "predictions": bad}))
            result = _run_predictions(folder.name)
            assert not result.success
            message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message.strip()
            assert expected in message and "_account.json" in message and len(message.splitlines()) == 1, message
        pd.testing.assert_frame_equal(
            workspace.query("SELECT * FROM predictions.customers WHERE account = $a ORDER BY ALL", {"a": folder.name}), stored
        )
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
