"""Score daily, refit weekly: a run whose stored fit is younger than ``refit_every_days`` (same
model, settings and prior, diagnostics passed) scores the stored draws for its new as_of
without sampling; ``--refit``, a changed method, ``refit_every_days`` 0 or an as_of before
the fit's force a refit. Real CLI runs on a one-account landing folder of its own."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from clv_assets.cli import main
from clv_assets_tests.conftest import use_own_folders
from clv_assets.lib.draws import load_draws
from clv_assets.lib.prediction_config import PredictionConfig
from clv_assets.lib.resources import warehouse_resource
from clv_assets.lib.warehouse import read_query, run_sql
from clv_assets.stats.predict import PredictionSettings, predict_rows

CUSTOMERS = 300
COMPARED = ["p_alive", "expected_orders", "expected_orders_p05", "expected_orders_p95", "p_order",
            "churn_probability", "purchase_probability", "expected_aov", "predicted_spend", "predicted_spend_p95"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """One 300-customer demo account in a landing folder, warehouse and instance of its own."""
    use_own_folders(tmp_path, monkeypatch)
    assert main(["demo", "--accounts", "1", "--customers", str(CUSTOMERS), "--seed", "5"]) == 0
    return tmp_path


def _query(folder, sql: str, params=None) -> pd.DataFrame:
    with warehouse_resource(folder / "warehouse.duckdb").get_connection() as conn:
        return conn.execute(sql, params or {}).df()


def _run(folder, day, *extra: str) -> pd.DataFrame:
    """Materialise the account as of ``day``; its models.fit_status rows by model."""
    assert main(["materialize", "--as-of", day.isoformat(), "--method", "map", *extra]) == 0
    return _query(folder, "SELECT * FROM models.fit_status ORDER BY model").set_index("model")


def _fitted_at(folder) -> pd.Series:
    return _query(folder, "SELECT model, max(fitted_at) AS t FROM models.fits GROUP BY model ORDER BY model").set_index("model").t


def test_second_day_scores_the_stored_draws_without_sampling(folder):
    """~40 s: four runs of a 300-customer account, MAP fits."""
    (account,) = [p.name for p in (folder / "landing").iterdir() if p.is_dir()]
    first = pd.Timestamp.now("UTC").date() - timedelta(days=30)
    status = _run(folder, first)
    assert status.fit_choice.str.startswith("refit: no stored fit").all(), status.fit_choice
    assert (status.fit_age_days == 0).all() and (status.refit_every_days == 7).all()
    fitted = _fitted_at(folder)
    draws_before = _query(folder, "SELECT * FROM models.posterior_draws ORDER BY ALL")
    day_one = _query(folder, 'SELECT customer_id, f."T", p.expected_orders FROM features.rfm f '
                     "JOIN predictions.customers p USING (account, customer_id)").set_index("customer_id")

    # next day: reused, nothing sampled, everything downstream recomputed for the new as_of
    second = first + timedelta(days=1)
    status = _run(folder, second)
    assert list(status.fit_choice) == [f"reused fit of {first}, 1 days old"] * 2
    assert (status.fit_age_days == 1).all() and (status.as_of.dt.date == second).all()
    assert (status.fitted_as_of.dt.date == first).all() and (status.status == "fitted").all()
    pd.testing.assert_series_equal(_fitted_at(folder), fitted)
    pd.testing.assert_frame_equal(_query(folder, "SELECT * FROM models.posterior_draws ORDER BY ALL"), draws_before)
    customers = _query(
        folder,
        "SELECT f.frequency, f.recency, f.\"T\", f.monetary_value, p.* FROM features.rfm f "
        "JOIN predictions.customers p USING (account, customer_id) WHERE account = $a",
        {"a": account},
    )
    assert len(customers) == CUSTOMERS and (customers.as_of.dt.date == second).all()
    # scoring the stored draws by hand for the new as_of gives the stored predictions
    config = PredictionConfig()
    with warehouse_resource(folder / "warehouse.duckdb").get_connection() as conn:
        bg, _ = load_draws(conn, account, "bgnbd", config.draws)
        gg, _ = load_draws(conn, account, "gamma_gamma", config.draws)
        histories = run_sql(conn, read_query("customer_histories"), {"account": account}).df()
    by_hand, _ = predict_rows(histories, bg, gg, PredictionSettings(model="bgnbd"))
    keys = ["frequency", "recency", "T", "monetary_value"]
    joined = customers.merge(by_hand, on=keys, suffixes=("", "_hand"), validate="many_to_one")
    assert len(joined) == CUSTOMERS
    for column in COMPARED:
        np.testing.assert_allclose(joined[column], joined[f"{column}_hand"], rtol=1e-9, err_msg=column)
    # recomputed for the new as_of: every customer a day older, and their predictions moved
    aged = customers.set_index("customer_id").join(day_one, rsuffix="_day_one")
    np.testing.assert_array_equal(aged["T"], aged["T_day_one"] + 1)
    assert (aged.expected_orders != aged.expected_orders_day_one).any()
    summary = _query(folder, "SELECT as_of, model_status FROM marts.account_summary")
    assert summary.as_of.dt.date.tolist() == [second]

    # as_of before the stored fit's: the fit saw orders this run must not see
    status = _run(folder, first - timedelta(days=1))
    assert status.fit_choice.str.startswith(f"refit: the stored fit is of a later as_of ({first})").all()
    assert (_fitted_at(folder) > fitted).all()


def test_refit_flag_changed_method_and_zero_interval_force_a_refit(folder):
    """~50 s: five runs of a 300-customer account, MAP and Laplace fits."""
    (account,) = [p.name for p in (folder / "landing").iterdir() if p.is_dir()]
    day = pd.Timestamp.now("UTC").date() - timedelta(days=30)
    _run(folder, day)
    fitted = _fitted_at(folder)

    status = _run(folder, day + timedelta(days=1), "--refit")
    assert status.fit_choice.str.startswith("refit: requested").all(), status.fit_choice
    assert (status.fit_age_days == 0).all()
    assert (_fitted_at(folder) > fitted).all()
    fitted = _fitted_at(folder)

    assert main(["materialize", "--as-of", (day + timedelta(days=2)).isoformat(), "--method", "laplace"]) == 0
    status = _query(folder, "SELECT * FROM models.fit_status ORDER BY model").set_index("model")
    assert status.fit_choice.str.startswith("refit: fit settings changed (method map -> laplace)").all(), status.fit_choice
    assert (_query(folder, "SELECT DISTINCT method FROM models.fits").method == "laplace").all()
    fitted = _fitted_at(folder)

    (folder / "landing" / account / "_account.json").write_text(json.dumps({"refit_every_days": 0}))
    assert main(["materialize", "--as-of", (day + timedelta(days=3)).isoformat(), "--method", "laplace"]) == 0
    status = _query(folder, "SELECT * FROM models.fit_status ORDER BY model").set_index("model")
    assert list(status.fit_choice) == ["refit: refit_every_days is 0"] * 2
    assert (status.refit_every_days == 0).all()
    assert (_fitted_at(folder) > fitted).all()

    # 7 days: a fit of day+3 is reused at day+9 and refitted at day+10
    (folder / "landing" / account / "_account.json").write_text(json.dumps({"refit_every_days": 7}))
    assert main(["materialize", "--as-of", (day + timedelta(days=9)).isoformat(), "--method", "laplace"]) == 0
    status = _query(folder, "SELECT * FROM models.fit_status ORDER BY model").set_index("model")
    assert list(status.fit_choice) == [f"reused fit of {day + timedelta(days=3)}, 6 days old"] * 2
    assert main(["materialize", "--as-of", (day + timedelta(days=10)).isoformat(), "--method", "laplace"]) == 0
    status = _query(folder, "SELECT * FROM models.fit_status ORDER BY model").set_index("model")
    expected = f"refit: the stored fit of {day + timedelta(days=3)} is 7 days old (refit_every_days 7)"
    assert list(status.fit_choice) == [expected] * 2


@pytest.mark.fast
def test_a_negative_interval_in_the_run_config_is_refused_in_one_line():
    from clv_assets.defs.models.assets import FitConfig, PurchaseFitConfig

    assert FitConfig().refit_every_days == 7 and FitConfig(refit_every_days=0).refit_every_days == 0
    for config_type in (FitConfig, PurchaseFitConfig):
        with pytest.raises(Exception, match="refit_every_days must be 0 .refit every run. or more, got -2"):
            config_type(refit_every_days=-2)
