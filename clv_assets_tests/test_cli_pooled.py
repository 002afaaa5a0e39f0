"""``clv-assets materialize`` alone reaches the pooled prior: once enough accounts are
fitted it learns ``models/pooled_prior`` (the rule of ``pooled_prior_sensor``) as a run on
the instance and runs again, in the same command, the small account that waited for it."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import pytest

from clv_assets.cli import main
from clv_assets_tests.conftest import use_own_folders
from clv_assets.demo import write_demo_accounts
from clv_assets.lib.keys import POOLED_PRIOR, PURCHASE_MODEL_FIT
from clv_assets.lib.resources import warehouse_resource

SHOP = "small-shop"
SHOP_CUSTOMERS = 30  # below min_customers (100), above min_customers_pooled (20)


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    """Four 150-customer demo accounts and a 30-customer shop in a landing folder of their own."""
    use_own_folders(tmp_path, monkeypatch)
    assert main(["demo", "--accounts", "4", "--customers", "150", "--seed", "3"]) == 0
    shop = write_demo_accounts(tmp_path / "scratch", n_accounts=1, n_customers=SHOP_CUSTOMERS, seed=2026)[0]
    shutil.copytree(tmp_path / "scratch" / shop["account"], tmp_path / "landing" / SHOP)
    return tmp_path


def _query(folder, sql: str, params=None):
    with warehouse_resource(folder / "warehouse.duckdb").get_connection() as conn:
        return conn.execute(sql, params or {}).df()


def _shop_fits(instance: dg.DagsterInstance) -> list[dict]:
    """Metadata of the shop's purchase-model materialisations, oldest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=PURCHASE_MODEL_FIT, asset_partitions=[SHOP]), limit=10, ascending=True
    ).records
    return [{k: v.value for k, v in r.event_log_entry.asset_materialization.metadata.items()} for r in records]


def _prior_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return [r.dagster_run for r in instance.get_run_records() if r.dagster_run.asset_selection == {POOLED_PRIOR}]


def test_materialize_learns_the_pooled_prior_and_runs_the_waiting_shop_again(data_folder, capsys):
    """~40 s (Laplace fits of 150-customer accounts; the shop's pooled-prior model compiles once)."""
    assert main(["materialize", "--method", "laplace"]) == 0
    out = capsys.readouterr().out
    assert "pooled prior: learnt from 4 accounts" in out
    assert f"running again the account(s) that waited for the pooled prior: {SHOP}" in out
    assert f"{SHOP}: bgnbd fitted (pooled prior from 4 accounts), gamma_gamma fitted (pooled prior from 4 accounts)" in out

    status = _query(data_folder, "SELECT model, status, prior FROM models.fit_status WHERE account = $a ORDER BY model", {"a": SHOP})
    assert status.to_dict("records") == [
        {"model": m, "status": "fitted", "prior": "pooled prior from 4 accounts"} for m in ("bgnbd", "gamma_gamma")
    ]
    assert _query(data_folder, "SELECT count(*) AS n FROM predictions.customers WHERE account = $a", {"a": SHOP}).n[0] == SHOP_CUSTOMERS
    # the serving copy BI tools read has them too (published after the second run)
    with duckdb.connect(str(data_folder / "warehouse.serving.duckdb"), read_only=True) as serving:
        assert serving.execute("SELECT count(*) FROM predictions.customers WHERE account = $a", {"a": SHOP}).fetchone()[0] == SHOP_CUSTOMERS

    with dg.DagsterInstance.get() as instance:
        # the shop's first run found it too small and no pooled prior; the second fitted it with the prior
        first, second = _shop_fits(instance)
        assert first["status"] == "ineligible" and first["prior"] == "own priors: no pooled prior yet (models/pooled_prior)"
        assert second["prior"].startswith("pooled prior from 4 accounts")
        assert [r.status for r in _prior_runs(instance)] == [dg.DagsterRunStatus.SUCCESS]

    # the shop again: fitted with the stored prior at once; the prior is not due again
    assert main(["materialize", "--method", "laplace", "--account", SHOP]) == 0
    out = capsys.readouterr().out
    assert "pooled prior (models/pooled_prior): not due (0 account(s) with new fits of 4 fitted; a refresh needs 3)" in out
    assert "running again" not in out
    with dg.DagsterInstance.get() as instance:
        assert _shop_fits(instance)[-1]["prior"].startswith("pooled prior from 4 accounts")
        assert len(_prior_runs(instance)) == 1
