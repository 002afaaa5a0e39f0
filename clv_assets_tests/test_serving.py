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
