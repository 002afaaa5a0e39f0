"""The serving copy BI tools read: each publish puts exactly the published accounts' rows
in, whichever way it builds the new file (inserting the published rows into a copy of the
serving file, or a byte copy of the warehouse with the other accounts' rows put back)."""

from __future__ import annotations

import duckdb
import pytest

from clv_assets.lib.resources import warehouse_resource
from clv_assets.lib.serving import publish_accounts

pytestmark = pytest.mark.fast


def _write(warehouse, account: str, rows: int, value: str) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS features")
        conn.execute("CREATE TABLE IF NOT EXISTS features.facts (account VARCHAR, i INTEGER, v VARCHAR)")
        conn.execute("DELETE FROM features.facts WHERE account = $a", {"a": account})
        conn.execute("INSERT INTO features.facts SELECT $a, range, $v FROM range($n)", {"a": account, "v": value, "n": rows})
        conn.execute("CREATE OR REPLACE TABLE features.currencies AS SELECT 'USD' AS code")  # not per account
        conn.execute("CREATE OR REPLACE VIEW features.facts_per_account AS SELECT account, count(*) AS n FROM features.facts GROUP BY ALL")


def _served(serving) -> dict:
    with duckdb.connect(str(serving), read_only=True) as conn:
        return {
            "facts": dict(conn.execute("SELECT account, list(DISTINCT v) || [count(*)::VARCHAR] FROM features.facts GROUP BY ALL").fetchall()),
            "view": dict(conn.execute("SELECT * FROM features.facts_per_account").fetchall()),
            "currencies": conn.execute("SELECT * FROM features.currencies").fetchall(),
            "published": dict(conn.execute("SELECT account, run_id FROM serving.published_accounts").fetchall()),
        }


def test_each_publish_serves_exactly_the_published_accounts_rows(tmp_path):
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "bi.duckdb"
    big, small = "big-shop", "small-shop"
    _write(warehouse, big, 5000, "v1")
    _write(warehouse, small, 10, "v1")
    resource = warehouse_resource(warehouse)
    # first publish, no serving file yet: built from a byte copy of the warehouse
    publish_accounts(resource, serving, [big, small], run_id="run-1")
    assert _served(serving) == {
        "facts": {big: ["v1", "5000"], small: ["v1", "10"]},
        "view": {big: 5000, small: 10},
        "currencies": [("USD",)],
        "published": {big: "run-1", small: "run-1"},
    }
    # both accounts change in the warehouse, but only the big one's run succeeded: the
    # small one's new rows (a failed or running run) must not be served. The big account
    # holds most rows, so this publish starts from the warehouse file.
    _write(warehouse, big, 4000, "v2")
    _write(warehouse, small, 7, "v2-half-written")
    publish_accounts(resource, serving, [big], run_id="run-2")
    assert _served(serving)["facts"] == {big: ["v2", "4000"], small: ["v1", "10"]}
    assert _served(serving)["view"] == {big: 4000, small: 10}
    assert _served(serving)["published"] == {big: "run-2", small: "run-1"}
    # now the small account publishes: its rows are inserted into a copy of the serving file
    publish_accounts(resource, serving, [small], run_id="run-3")
    assert _served(serving)["facts"] == {big: ["v2", "4000"], small: ["v2-half-written", "7"]}
    assert _served(serving)["published"] == {big: "run-2", small: "run-3"}
    # an account never published stays out, whichever path a publish takes
    _write(warehouse, "new-shop", 3, "v1")
    publish_accounts(resource, serving, [big], run_id="run-4")
    assert set(_served(serving)["facts"]) == {big, small}
    assert not list(tmp_path.glob(".*.tmp*"))


def _facts(path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("SELECT account, v, count(*) FROM features.facts GROUP BY ALL ORDER BY ALL").fetchall()


def test_per_account_files_hold_only_their_account(tmp_path):
    from clv_assets.lib.serving import publish_account_files

    warehouse, folder = tmp_path / "warehouse.duckdb", tmp_path / "served"
    _write(warehouse, "shop-a", 50, "v1")
    _write(warehouse, "shop-b", 20, "v1")
    resource = warehouse_resource(warehouse)
    assert publish_account_files(resource, folder, ["shop-a", "shop-b"], run_id="run-1") == ["shop-a", "shop-b"]
    assert sorted(p.name for p in folder.iterdir()) == ["shop-a.duckdb", "shop-b.duckdb"]
    for account, rows in (("shop-a", 50), ("shop-b", 20)):
        path = folder / f"{account}.duckdb"
        assert _facts(path) == [(account, "v1", rows)]
        with duckdb.connect(str(path), read_only=True) as conn:
            # every table split by account holds this account alone; others are left out
            tables = conn.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()
            assert ("features.currencies",) not in tables
            for (table,) in tables:
                assert conn.execute(f"SELECT DISTINCT account FROM {table}").fetchall() == [(account,)]
            assert conn.execute("SELECT * FROM features.facts_per_account").fetchall() == [(account, rows)]


def test_a_reader_of_an_account_file_sees_the_whole_old_or_the_whole_new_account(tmp_path):
    from clv_assets.lib.serving import publish_account_files

    warehouse, folder = tmp_path / "warehouse.duckdb", tmp_path / "served"
    _write(warehouse, "shop-a", 500, "v1")
    resource = warehouse_resource(warehouse)
    publish_account_files(resource, folder, ["shop-a"])
    reader = duckdb.connect(str(folder / "shop-a.duckdb"), read_only=True)
    try:
        _write(warehouse, "shop-a", 300, "v2")
        publish_account_files(resource, folder, ["shop-a"])
        # the open connection still reads the file it opened: the whole old account
        assert reader.execute("SELECT v, count(*) FROM features.facts GROUP BY ALL").fetchall() == [("v1", 500)]
    finally:
        reader.close()
    assert _facts(folder / "shop-a.duckdb") == [("shop-a", "v2", 300)]
    assert not list(folder.glob(".*.tmp*"))


def test_the_layout_setting_chooses_the_files(tmp_path, monkeypatch):
    from clv_assets import settings
    from clv_assets.lib.serving import publish

    warehouse = tmp_path / "warehouse.duckdb"
    _write(warehouse, "shop-a", 5, "v1")
    monkeypatch.delenv("CLV_SERVING", raising=False)
    monkeypatch.delenv("CLV_SERVING_DIR", raising=False)
    monkeypatch.setenv("CLV_SERVING_LAYOUT", "per-account")
    assert publish(warehouse_resource(warehouse), ["shop-a"])[1] == tmp_path / "warehouse.serving"
    assert settings.served_file("shop-a", warehouse) == tmp_path / "warehouse.serving" / "shop-a.duckdb"
    assert _facts(settings.served_file("shop-a", warehouse)) == [("shop-a", "v1", 5)]
    monkeypatch.setenv("CLV_SERVING_LAYOUT", "one-per-shop")
    with pytest.raises(settings.InvalidSettingError, match="CLV_SERVING_LAYOUT"):
        settings.serving_layout()
