"""Shared fixtures: a real landing folder, DuckDB file and Dagster instance per session."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from clv_assets.lib.resources import warehouse_resource

warnings.filterwarnings("ignore", module="dagster")

DEMO_ACCOUNTS = 3
DEMO_CUSTOMERS = 300


@dataclass
class Workspace:
    root: Path
    landing: Path
    warehouse: Path
    dagster_home: Path
    as_of: date
    truths: list[dict]

    def query(self, sql: str, params=None):
        # The runs' own resource: DuckDB shares one database instance per process and
        # refuses a connection with another configuration.
        with warehouse_resource(self.warehouse).get_connection() as conn:
            return conn.execute(sql, params or {}).df()

    def count(self, table: str, account: str | None = None) -> int:
        where = "WHERE account = $account" if account else ""
        params = {"account": account} if account else {}
        return int(self.query(f"SELECT count(*) AS n FROM {table} {where}", params).n[0])


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    """Demo data for 3 accounts, materialised once through the CLI as real Dagster runs."""
    from clv_assets.cli import main
    from clv_assets.demo import write_demo_accounts

    root = tmp_path_factory.mktemp("clv")
    ws = Workspace(
        root=root,
        landing=root / "landing",
        warehouse=root / "warehouse.duckdb",
        dagster_home=root / "dagster_home",
        # some demo orders fall after the as-of date: they must stay in raw.orders only
        as_of=datetime.now(UTC).date() - timedelta(days=60),
        truths=[],
    )
    saved = {k: os.environ.get(k) for k in ("CLV_WAREHOUSE", "CLV_LANDING_DIR", "DAGSTER_HOME")}
    os.environ.update(
        CLV_WAREHOUSE=str(ws.warehouse),
        CLV_LANDING_DIR=str(ws.landing),
        DAGSTER_HOME=str(ws.dagster_home),
    )
    ws.truths = write_demo_accounts(ws.landing, n_accounts=DEMO_ACCOUNTS, n_customers=DEMO_CUSTOMERS, seed=11)
    assert main(["materialize", "--as-of", ws.as_of.isoformat()]) == 0
    yield ws
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def use_own_folders(root: Path, monkeypatch) -> None:
    """Point the warehouse, landing folder and Dagster instance at ``root`` for one test,
    with no serving, Dagster PostgreSQL or lake settings from the environment."""
    for variable in ("CLV_SERVING", "CLV_DAGSTER_POSTGRES_URL", "CLV_DUCKLAKE_CATALOG", "CLV_DUCKLAKE_DATA"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CLV_WAREHOUSE", str(root / "warehouse.duckdb"))
    monkeypatch.setenv("CLV_LANDING_DIR", str(root / "landing"))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
