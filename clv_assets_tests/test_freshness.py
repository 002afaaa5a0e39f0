"""Per-account freshness checks: one stale account among fresh ones is named and fails."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import dagster as dg
import pytest

from clv_assets.definitions import build_defs
from clv_assets.settings import InvalidSettingError, max_load_age_hours
from clv_assets.defs.freshness.schedules import FRESHNESS_JOB, account_freshness_schedule
from clv_assets.lib.resources import warehouse_resource

LOADED = "accounts_loaded_recently"
PREDICTED = "accounts_predicted_recently"


def _run_checks(instance, warehouse, landing, run_config=None) -> dict:
    job = build_defs(warehouse, landing).resolve_job_def(FRESHNESS_JOB)
    result = job.execute_in_process(instance=instance, run_config=run_config or {})
    assert result.success
    # no asset is materialised by the check job
    assert result.get_asset_materialization_events() == []
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _stale(evaluation) -> list[str]:
    return evaluation.metadata["stale_accounts"].value


def _ages(evaluation) -> dict[str, float | None]:
    return {r.data["account"]: r.data["age_hours"] for r in evaluation.metadata["ages"].records}


@pytest.fixture
def instance(workspace):
    """An instance with the demo accounts as its only partitions: other tests register
    accounts of their own in the session instance, some never materialised."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("accounts", sorted(t["account"] for t in workspace.truths))
        yield instance


@contextmanager
def _aged(workspace, table: str, column: str, account: str, hours: int):
    """Make ``account``'s ``column`` in ``table`` ``hours`` older, and restore it after."""
    shift = f"UPDATE {table} SET {column} = {column} + to_hours(CAST($h AS INTEGER)) WHERE account = $account"
    with warehouse_resource(workspace.warehouse).get_connection() as conn:
        conn.execute(shift, {"h": -hours, "account": account})
    try:
        yield
    finally:
        with warehouse_resource(workspace.warehouse).get_connection() as conn:
            conn.execute(shift, {"h": hours, "account": account})


def test_fresh_accounts_pass(workspace, instance):
    accounts = sorted(t["account"] for t in workspace.truths)
    evaluations = _run_checks(instance, workspace.warehouse, workspace.landing)
    for name in (LOADED, PREDICTED):
        assert evaluations[name].passed, evaluations[name].description
        assert _stale(evaluations[name]) == []
        assert sorted(_ages(evaluations[name])) == accounts
        assert evaluations[name].metadata["limit_hours"].value == 36.0
    # ages are hours since the stored load / prediction times
    stored = workspace.query(
        "SELECT account, epoch(now() - max(predicted_at)) / 3600 AS hours FROM predictions.customers "
        "WHERE list_contains($accounts, account) GROUP BY account",
        {"accounts": accounts},
    )
    assert sorted(stored.account) == accounts
    ages = _ages(evaluations[PREDICTED])
    for row in stored.itertuples():
        assert ages[row.account] == pytest.approx(row.hours, abs=0.05)


def test_one_stale_account_among_fresh_ones_fails_and_is_named(workspace, instance):
    first, second, third = sorted(t["account"] for t in workspace.truths)
    with _aged(workspace, "raw.orders", "loaded_at", first, 48), _aged(
        workspace, "raw.landing_files", "loaded_at", first, 48
    ), _aged(workspace, "predictions.customers", "predicted_at", second, 48):
        evaluations = _run_checks(instance, workspace.warehouse, workspace.landing)
        loaded, predicted = evaluations[LOADED], evaluations[PREDICTED]
        assert not loaded.passed and loaded.severity == dg.AssetCheckSeverity.ERROR
        assert _stale(loaded) == [first]
        assert 48 <= _ages(loaded)[first] < 49
        assert _ages(loaded)[third] < 1
        assert not predicted.passed and _stale(predicted) == [second]
        assert 48 <= _ages(predicted)[second] < 49
        assert first in loaded.description and second in predicted.description

        # the limit is run config ...
        lenient = {"ops": {f"{key}_{name}": {"config": {"max_age_hours": 72}} for key, name in (
            ("raw__orders", LOADED), ("predictions__customers", PREDICTED))}}
        evaluations = _run_checks(instance, workspace.warehouse, workspace.landing, lenient)
        assert evaluations[LOADED].passed and evaluations[PREDICTED].passed
        assert evaluations[LOADED].metadata["limit_hours"].value == 72.0

    # ... and back to fresh once the account is fixed
    evaluations = _run_checks(instance, workspace.warehouse, workspace.landing)
    assert evaluations[LOADED].passed and evaluations[PREDICTED].passed

    # a registered account never materialised is stale in both
    instance.add_dynamic_partitions("accounts", ["never-loaded"])
    evaluations = _run_checks(instance, workspace.warehouse, workspace.landing)
    for name in (LOADED, PREDICTED):
        assert _stale(evaluations[name]) == ["never-loaded"]
        assert _ages(evaluations[name])["never-loaded"] is None


def test_stale_orders_in_either_raw_table_count(workspace, instance):
    """raw.orders and raw.landing_files share one load time; the older one is judged."""
    account = sorted(t["account"] for t in workspace.truths)[-1]
    with _aged(workspace, "raw.orders", "loaded_at", account, 40):
        evaluations = _run_checks(instance, workspace.warehouse, workspace.landing)
    assert _stale(evaluations[LOADED]) == [account]
    assert evaluations[PREDICTED].passed


def test_limits_come_from_the_environment(workspace, instance, monkeypatch):
    account = sorted(t["account"] for t in workspace.truths)[0]
    with _aged(workspace, "predictions.customers", "predicted_at", account, 48):
        monkeypatch.setenv("CLV_MAX_PREDICTION_AGE_HOURS", "49")
        evaluations = _run_checks(instance, workspace.warehouse, workspace.landing)
        assert evaluations[PREDICTED].passed
        assert evaluations[PREDICTED].metadata["limit_hours"].value == 49.0
        monkeypatch.setenv("CLV_MAX_PREDICTION_AGE_HOURS", "47.5")
        evaluations = _run_checks(instance, workspace.warehouse, workspace.landing)
        assert _stale(evaluations[PREDICTED]) == [account]
        assert evaluations[LOADED].passed  # the other limit is its own

    # the asset-level policies shown in the UI follow the same settings
    graph = build_defs(workspace.warehouse, workspace.landing).resolve_asset_graph()
    windows = {key.to_user_string(): graph.get(key).freshness_policy.fail_window.to_timedelta() for key in graph.get_all_asset_keys()}
    assert windows["predictions/customers"] == timedelta(hours=47.5)
    assert windows["raw/orders"] == timedelta(hours=36)


@pytest.mark.parametrize("value", ["a day", "0", "-3", "inf"])
def test_invalid_limit_is_a_one_line_error(value, tmp_path, monkeypatch, capsys):
    from clv_assets.cli import main

    monkeypatch.setenv("CLV_MAX_LOAD_AGE_HOURS", value)
    with pytest.raises(InvalidSettingError, match="CLV_MAX_LOAD_AGE_HOURS must be a positive number"):
        max_load_age_hours()
    (tmp_path / "landing" / "shop-a").mkdir(parents=True)
    monkeypatch.setenv("CLV_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert main(["materialize"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"clv-assets: error: CLV_MAX_LOAD_AGE_HOURS must be a positive number of hours, got {value!r}"


def test_accounts_without_rows_are_stale(tmp_path):
    """A registered partition never materialised (here: an empty warehouse) is stale."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("accounts", ["shop-a", "shop-b"])
        evaluations = _run_checks(instance, tmp_path / "empty.duckdb", tmp_path / "landing")
    for name in (LOADED, PREDICTED):
        assert not evaluations[name].passed
        assert _stale(evaluations[name]) == ["shop-a", "shop-b"]
        assert _ages(evaluations[name]) == {"shop-a": None, "shop-b": None}


def test_freshness_schedule_runs_the_check_job_hourly():
    assert account_freshness_schedule.job_name == FRESHNESS_JOB
    assert account_freshness_schedule.cron_schedule == "20 * * * *"
    assert account_freshness_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_materialize_leaves_freshness_evaluated(workspace):
    """`clv-assets materialize` (the session fixture ran it) evaluates both checks on the
    instance, so the UI shows a result before the hourly schedule first runs."""
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        for name, asset in ((LOADED, ["raw", "orders"]), (PREDICTED, ["predictions", "customers"])):
            key = dg.AssetCheckKey(dg.AssetKey(asset), name)
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)
            assert record is not None, f"{name} not evaluated"
            assert record.status.value in ("SUCCEEDED", "FAILED")
