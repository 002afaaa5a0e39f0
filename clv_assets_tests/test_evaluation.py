"""models/evaluation: holdout backtests through real Dagster runs on real DuckDB files.

CDNOW (calibration weeks 1-39, holdout weeks 40-78) against the published figures and
pymc-marketing's own predictions, and a synthetic BG/NBD account whose truth is known.
Fits use Laplace and 100 predictive draws to keep the file fast; the README's scorecard
uses the asset's defaults (scripts/cdnow_scorecard.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import warnings
from pathlib import Path

import arviz as az
import dagster as dg
import numpy as np
import pandas as pd
import pymc_marketing.clv
import pytest

from clv_assets import cdnow
from clv_assets.demo import write_demo_accounts
from clv_assets.lib.resources import warehouse_resource
from clv_assets.lib.warehouse import read_sql
from clv_assets.stats.evaluation.backtest import backtest_window
from clv_assets.stats.evaluation.choice import CANDIDATES, choose_model
from clv_assets.stats.purchase.bgnbd import bgnbd_expected_purchases
from clv_assets.stats.registry import PURCHASE_MODELS

CDNOW_FILE = Path(__file__).parent / "fixtures" / "cdnow" / "CDNOW_sample.txt"
FAST = {"method": "laplace", "predictive_draws": 100}


def _query(warehouse, sql, params=None) -> pd.DataFrame:
    with warehouse_resource(warehouse).get_connection() as conn:
        return conn.execute(sql, params or {}).df()


def _backtest(workspace, root: Path, account: str, run_config: dict):
    result = cdnow.materialize_backtest(account, root / "landing", root / "warehouse.duckdb", dg.DagsterInstance.get(), run_config)
    return result


@pytest.fixture(scope="module")
def cdnow_backtest(workspace, tmp_path_factory):
    root = tmp_path_factory.mktemp("cdnow_backtest")
    (root / "landing" / "cdnow-backtest").mkdir(parents=True)
    cdnow.cdnow_orders(CDNOW_FILE).to_csv(root / "landing" / "cdnow-backtest" / "cdnow.csv", index=False)
    result = _backtest(workspace, root, "cdnow-backtest", cdnow.evaluation_run_config(**FAST))
    assert result.success
    warehouse = root / "warehouse.duckdb"
    scores = _query(warehouse, "SELECT * FROM models.evaluation WHERE account = 'cdnow-backtest'").set_index("model")
    return root, result, scores


def _calibration_rfm() -> pd.DataFrame:
    """Independent of the SQL: pandas RFM of the CDNOW sample at the cutoff, in days."""
    orders = cdnow.cdnow_orders(CDNOW_FILE)
    orders["day"] = pd.to_datetime(orders.ordered_at).dt.normalize()
    tx = orders.groupby(["customer_id", "day"]).amount.sum().reset_index()
    cut = pd.Timestamp(cdnow.CUTOFF)
    cal = tx[tx.day <= cut].groupby("customer_id").day
    return pd.DataFrame(
        {"frequency": cal.count() - 1.0, "recency": (cal.max() - cal.min()).dt.days * 1.0, "T": (cut - cal.min()).dt.days * 1.0}
    ).reset_index()


def test_cdnow_scorecard_has_every_figure_per_candidate(cdnow_backtest):
    _, _, scores = cdnow_backtest
    assert list(scores.index) == list(CANDIDATES)
    assert (scores.n_customers == 2357).all() and (scores.holdout_days == 273).all()
    assert (scores.actual_repeat_orders == cdnow.HOLDOUT_REPEAT_TRANSACTIONS).all()
    assert str(scores.cutoff.iloc[0].date()) == cdnow.CUTOFF and str(scores.holdout_end.iloc[0].date()) == cdnow.HOLDOUT_END
    figures = ["aggregate_error_pct", "tracking_error_pct", "mae_orders", "brier_p_order", "auc_top_decile_spend",
               "gini_spend", "interval_coverage", "interval_expected_coverage"]
    assert scores[figures].notna().all().all()


def test_cdnow_bgnbd_reproduces_the_published_forecast(cdnow_backtest):
    """FHL 2005: BG/NBD under-forecasts cumulative repeat transactions at week 78 by about 4%.

    The holdout-only aggregate equals what the published MLE implies (1,654 conditional
    expectations), about 12% below the 1,882 that happened: CDNOW's holdout is busier
    than any of the three models expects.
    """
    _, _, scores = cdnow_backtest
    bg = scores.loc["bgnbd"]
    assert -6.0 <= bg.tracking_error_pct <= -2.0, bg.tracking_error_pct
    rfm = _calibration_rfm()
    published = dict(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)
    from_published = bgnbd_expected_purchases(**published, x=rfm.frequency, t_x=rfm.recency, T=rfm["T"], t=273.0).sum()
    assert abs(bg.predicted_repeat_orders / from_published - 1) < 0.03, (bg.predicted_repeat_orders, from_published)


@pytest.mark.parametrize("model", CANDIDATES)
def test_cdnow_aggregate_forecast_matches_pymc_marketing(cdnow_backtest, model):
    """pymc-marketing's expected_purchases at the posterior mean, on a pandas RFM."""
    _, _, scores = cdnow_backtest
    row = scores.loc[model]
    params = json.loads(row.parameters)
    data = _calibration_rfm().rename(columns={"customer_id": "id"}).assign(customer_id=lambda d: np.arange(len(d)))
    reference = getattr(pymc_marketing.clv, PURCHASE_MODELS[model].reference)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.build_model(data[["customer_id", "frequency", "recency", "T"]])
    reference.idata = az.from_dict({"posterior": {k: np.array([[v]]) for k, v in params.items()}})
    total = float(reference.expected_purchases(data, future_t=273.0).sum())
    # posterior mean of a sum vs the sum at the posterior mean: equal to within ~1%
    assert abs(row.predicted_repeat_orders / total - 1) < 0.02, (model, row.predicted_repeat_orders, total)


def test_cdnow_intervals_calibration_and_ranking(cdnow_backtest):
    root, _, scores = cdnow_backtest
    for model, row in scores.iterrows():
        # discrete 90% intervals hold >= 90% of the predictive mass; observed coverage matches that mass
        assert 0.90 <= row.interval_expected_coverage <= 0.99
        assert abs(row.interval_coverage - row.interval_expected_coverage) < 0.03, model
        assert row.auc_top_decile_spend > 0.7 and row.gini_spend > 0.4
        assert 0 < row.brier_p_order < row.observed_share_ordering * (1 - row.observed_share_ordering)  # beats a constant
    deciles = _query(root / "warehouse.duckdb", "SELECT * FROM models.evaluation_calibration ORDER BY model, decile")
    for model, group in deciles.groupby("model"):
        assert list(group.decile) == list(range(1, 11)) and group.n_customers.sum() == 2357
        assert np.all(np.diff(group.predicted_p_order) >= 0)
        share = (group.observed_share * group.n_customers).sum() / 2357
        np.testing.assert_allclose(share, scores.loc[model, "observed_share_ordering"], rtol=1e-9)
        assert (group.predicted_p_order - group.observed_share).abs().max() < 0.15, model
    track = _query(root / "warehouse.duckdb", "SELECT * FROM models.evaluation_tracking WHERE model = 'bgnbd' ORDER BY day_date")
    assert track.actual_cumulative.iloc[-1] == 2457 + 1882
    assert track.loc[~track.in_holdout, "actual_cumulative"].iloc[-1] == 2457


def test_cdnow_model_choice_and_plots(cdnow_backtest):
    root, result, scores = cdnow_backtest
    choice = _query(root / "warehouse.duckdb", "SELECT * FROM models.model_choice")
    assert len(choice) == 1
    assert choice.chosen_model[0] == scores.mae_orders.idxmin()  # no tie on CDNOW
    assert choice.score[0] == pytest.approx(scores.mae_orders.min()) and choice.reason[0]
    metadata = result.asset_materializations_for_node("models__evaluation")[0].metadata
    for name in ("tracking_plot", "calibration_plot"):
        text = metadata[name].value
        prefix = text[: text.index(",") + 1]
        assert prefix.endswith("(data:image/png;base64,")
        assert base64.b64decode(text[len(prefix) : -1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_choice_score_tie_break():
    scores = pd.DataFrame(
        {"model": ["bgnbd", "mbgnbd", "pareto_nbd"], "mae_orders": [0.500, 0.501, 0.60], "aggregate_error_pct": [-8.0, 2.0, 1.0]}
    )
    choice = choose_model(scores)
    assert choice["chosen_model"] == "mbgnbd" and "tied" in choice["reason"]
    assert choose_model(scores.assign(mae_orders=[0.4, 0.5, 0.6]))["chosen_model"] == "bgnbd"
    assert choose_model(scores.assign(mae_orders=[0.6, 0.5, 0.4]))["chosen_model"] == "pareto_nbd"


def test_default_window_holds_out_the_last_third():
    window = backtest_window(dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert window.holdout_end == dt.date(2024, 12, 31) and window.total_days == 365
    assert window.holdout_days == 365 - 243 and window.cutoff == dt.date(2024, 8, 31)
    with pytest.raises(ValueError, match="not after the cutoff"):
        backtest_window(dt.date(2024, 1, 1), dt.date(2024, 12, 31), cutoff=dt.date(2025, 1, 1))


def test_synthetic_bgnbd_account_backtest_agrees_with_the_truth(workspace, tmp_path):
    """Orders simulated from a known BG/NBD process: the backtest forecast agrees with the
    forecast of the true parameters and the holdout counts are as spread as predicted."""
    truth = write_demo_accounts(tmp_path / "landing", n_accounts=1, n_customers=3000, seed=5, end=dt.date(2025, 1, 1))[0]
    account = truth["account"]
    # the demo's CSV carries a stray valid order dated after the window: end the holdout explicitly
    config = {"candidates": ["bgnbd"], "holdout_end": "2024-12-31", **FAST}
    result = _backtest(workspace, tmp_path, account, {"ops": {"models__evaluation": {"config": config}}})
    assert result.success
    row = _query(tmp_path / "warehouse.duckdb", "SELECT * FROM models.evaluation WHERE account = $a", {"a": account}).iloc[0]
    assert row.holdout_days == (dt.date(2024, 12, 31) - dt.date(2023, 1, 2)).days - (729 * 2) // 3  # last third
    rfm = _query(
        tmp_path / "warehouse.duckdb",
        'SELECT * FROM (' + read_sql("features.rfm") + ')',
        {"account": account, "as_of": row.cutoff.date()},
    )
    true_total = bgnbd_expected_purchases(
        **{k: truth["bgnbd"][k] for k in ("r", "alpha", "a", "b")}, x=rfm.frequency, t_x=rfm.recency, T=rfm["T"], t=float(row.holdout_days)
    ).sum()
    assert abs(row.predicted_repeat_orders / true_total - 1) < 0.10, (row.predicted_repeat_orders, true_total)
    # sd of the holdout total is ~sqrt(sum of variances) <= sqrt(sum of means * (1 + overdispersion)): allow 4 sd
    assert abs(row.actual_repeat_orders - true_total) < 4 * np.sqrt(3 * true_total)
    assert abs(row.interval_coverage - row.interval_expected_coverage) < 0.03
    choice = _query(tmp_path / "warehouse.duckdb", "SELECT * FROM models.model_choice WHERE account = $a", {"a": account})
    assert choice.chosen_model[0] == "bgnbd" and "lowest mae_orders" in choice.reason[0]
    _assert_segment_lift_claims(tmp_path / "warehouse.duckdb", account)


def _assert_segment_lift_claims(warehouse, account: str) -> pd.DataFrame:
    """The issue's claims on models.evaluation_segments, where the segment has >= 30 members.

    The table compares what members did in the actual holdout with their comparison group.
    """
    lift = _query(warehouse, "SELECT * FROM models.evaluation_segments WHERE account = $a", {"a": account}).set_index("segment")
    shipped = {"one_time_buyers_likely_to_repeat", "vip", "future_vip", "loyal_staying_loyal", "becoming_loyal", "at_risk", "lapsed_active_customers", "lapsed_one_time_buyers"}
    assert set(lift.index) == shipped
    big = lift[lift.members >= 30]
    assert (big.order_rate_lift_p05 <= big.order_rate_lift).all() and (big.order_rate_lift <= big.order_rate_lift_p95).all()
    if "one_time_buyers_likely_to_repeat" in big.index:
        assert big.order_rate_lift["one_time_buyers_likely_to_repeat"] > 1, big.loc["one_time_buyers_likely_to_repeat"]
    for vip in {"vip", "future_vip"} & set(big.index):
        assert big.spend_lift[vip] > 1, big.loc[vip]
    if "at_risk" in big.index:
        assert big.order_rate_lift["at_risk"] < 1, big.loc["at_risk"]
    return lift


def test_cdnow_segment_lift(cdnow_backtest):
    """The segments as of the cutoff, measured on the CDNOW holdout; the one-time-buyer
    groups add up to the customers with exactly one order up to the cutoff (the
    frequency band counts orders, so two orders on one day are two), counted in pandas
    from the raw orders, and their pooled holdout reorder share to the one computed there."""
    root, _, _ = cdnow_backtest
    lift = _assert_segment_lift_claims(root / "warehouse.duckdb", "cdnow-backtest")
    assert (lift.members >= 30).sum() >= 4, lift.members
    orders = cdnow.cdnow_orders(CDNOW_FILE)
    day = pd.to_datetime(orders.ordered_at).dt.normalize()
    orders_to_cutoff = orders[day <= pd.Timestamp(cdnow.CUTOFF)].groupby("customer_id").size()
    one_time = set(orders_to_cutoff.index[orders_to_cutoff == 1])
    in_holdout = orders[(day > pd.Timestamp(cdnow.CUTOFF)) & (day <= pd.Timestamp(cdnow.HOLDOUT_END))]
    reordered = len(one_time & set(in_holdout.customer_id)) / len(one_time)
    for name in ("one_time_buyers_likely_to_repeat", "lapsed_one_time_buyers"):
        row = lift.loc[name]
        assert row.members + row.comparison_customers == len(one_time)
        pooled = (row.members * row.member_share_ordered + row.comparison_customers * row.comparison_share_ordered) / len(one_time)
        assert pooled == pytest.approx(reordered, rel=1e-9)


def test_segment_lift_uses_the_accounts_band_and_horizon_settings(cdnow_backtest, tmp_path):
    """The lift measures the segments the account gets: its ``_account.json`` band cut-offs
    and horizons apply as of the cutoff. CDNOW with no one 'likely to order' (absolute
    cut-offs of 0.999999) and a 1-day churn horizon (P(no order in a day) is 'Very high'
    for everyone): loyal_staying_loyal is empty, and every active customer is at risk if
    their last order is at most a day before the cutoff, else lapsed (counted in pandas from
    the raw orders); with the defaults (cdnow_backtest) neither."""
    default = _query(cdnow_backtest[0] / "warehouse.duckdb", "SELECT * FROM models.evaluation_segments").set_index("segment")
    account = "cdnow-settings"
    (tmp_path / "landing" / account).mkdir(parents=True)
    cdnow.cdnow_orders(CDNOW_FILE).to_csv(tmp_path / "landing" / account / "cdnow.csv", index=False)
    (tmp_path / "landing" / account / "_account.json").write_text(json.dumps({
        "bands": {"order_likelihood_basis": "absolute", "likely_to_order": 0.999999, "likely_to_order_multiple": 0.999999},
        "predictions": {"churn_horizon_days": 1},
    }))
    result = _backtest(None, tmp_path, account, cdnow.evaluation_run_config(candidates=["bgnbd"], **FAST))
    assert result.success
    lift = _query(tmp_path / "warehouse.duckdb", "SELECT * FROM models.evaluation_segments").set_index("segment")
    orders = cdnow.cdnow_orders(CDNOW_FILE)
    orders = orders.assign(day=pd.to_datetime(orders.ordered_at).dt.normalize())
    orders = orders[orders.day <= pd.Timestamp(cdnow.CUTOFF)]
    per_customer = orders.groupby("customer_id").agg(n=("order_id", "size"), spend=("amount", "sum"), last=("day", "max"))
    active = (per_customer.n >= 2) | (per_customer.spend / per_customer.spend.mean() > 1.25)  # 'Above average' or more
    recent = (pd.Timestamp(cdnow.CUTOFF) - per_customer["last"]).dt.days <= 1
    assert lift.members["loyal_staying_loyal"] == 0 < default.members["loyal_staying_loyal"]
    assert lift.comparison_customers["loyal_staying_loyal"] == (per_customer.n >= 3).sum()
    assert lift.members["at_risk"] == (active & recent).sum() and lift.comparison_customers["at_risk"] == 0
    assert lift.members["lapsed_active_customers"] == (active & ~recent).sum() > default.members["lapsed_active_customers"]


def test_bad_window_fails_the_run_with_one_line(workspace, tmp_path):
    (tmp_path / "landing" / "tiny-shop").mkdir(parents=True)
    cdnow.cdnow_orders(CDNOW_FILE).head(50).to_csv(tmp_path / "landing" / "tiny-shop" / "o.csv", index=False)
    result = _backtest(workspace, tmp_path, "tiny-shop", {"ops": {"models__evaluation": {"config": {"cutoff": "1999-01-01"}}}})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message.strip()
    assert "not after the cutoff" in message and len(message.splitlines()) == 1


def test_model_auto_serves_the_backtest_choice(cdnow_backtest):
    """With ``model: auto`` the account job fits and serves the candidate the backtest
    chose, and its predictions are that model's: they agree with pymc-marketing's own
    model class evaluated on the stored draws."""
    root, _, scores = cdnow_backtest
    from clv_assets.definitions import build_defs
    from clv_assets.lib.keys import ACCOUNT_JOB
    from clv_assets.lib.run_config import account_run_config

    chosen = scores.mae_orders.idxmin()
    assert chosen != "bgnbd"  # CDNOW: the check below exercises a non-default model
    run_config = account_run_config(dt.date(1998, 6, 30), "laplace", "auto")
    job = build_defs(warehouse=root / "warehouse.duckdb", landing_dir=root / "landing").resolve_job_def(ACCOUNT_JOB)
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(), partition_key="cdnow-backtest", run_config=run_config, raise_on_error=False
    )
    assert result.success
    warehouse = root / "warehouse.duckdb"
    summary = _query(warehouse, "SELECT * FROM marts.account_summary").iloc[0]
    assert summary.customers == 2357 and summary.served_model == chosen == summary.backtest_chosen_model
    assert summary.served_model_reason.startswith("auto: backtest of ") and "mae_orders" in summary.backtest_choice_reason
    status = _query(warehouse, "SELECT * FROM models.fit_status WHERE model <> 'gamma_gamma'")
    assert list(status.model) == [chosen] and status.requested_model[0] == "auto"
    assert set(_query(warehouse, "SELECT DISTINCT model FROM models.posterior_draws").model) == {chosen, "gamma_gamma"}

    # pymc-marketing's model class on the stored draws (thinned as the predictions thin them)
    from clv_assets.lib.draws import load_draws

    with warehouse_resource(warehouse).get_connection() as conn:
        draws, _ = load_draws(conn, "cdnow-backtest", chosen, 200)
    predictions = _query(warehouse, "SELECT * FROM predictions.customers ORDER BY customer_id")
    assert (predictions.purchase_model == chosen).all()
    rfm = _query(warehouse, "SELECT * FROM features.rfm ORDER BY customer_id")
    sample = rfm.drop_duplicates(["frequency", "recency", "T"]).head(300).reset_index(drop=True)
    data = sample[["frequency", "recency", "T"]].assign(customer_id=np.arange(len(sample)))
    reference = getattr(pymc_marketing.clv, PURCHASE_MODELS[chosen].reference)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.build_model(data)
    reference.idata = az.from_dict({"posterior": {k: v[None, :] for k, v in draws.items() if k in PURCHASE_MODELS[chosen].parameters}})
    horizon = float(predictions.horizon_days.iloc[0])
    expected = reference.expected_purchases(data, future_t=horizon).mean(("chain", "draw")).values
    p_alive = reference.expected_probability_alive(data).mean(("chain", "draw")).values
    ours = sample.merge(predictions, on="customer_id")
    np.testing.assert_allclose(ours.expected_orders, expected, rtol=1e-6)
    np.testing.assert_allclose(ours.p_alive, p_alive, rtol=1e-6)
