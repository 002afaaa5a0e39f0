"""A PostgreSQL table or query as an account's source, read from the tests' own server."""

from __future__ import annotations

import pandas as pd
import pytest

from clv_assets_tests.postgres_server import PostgresServer
from clv_assets_tests.test_sources import (  # noqa: F401
    ORDER_COLUMNS,
    declare,
    failure,
    landing_twin,
    load,
    orders,
    project,
    stored,
)

PASSWORD = "Sup3r-s3cret_pw"
ORDERS_SQL = """
CREATE TABLE shop.orders (
    id text PRIMARY KEY, customer text, created timestamptz, total numeric(12, 2), cur text,
    channel text, status text, updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO shop.orders (id, customer, created, total, cur, channel, status) VALUES
    ('#1001', 'ann@example.com', '2025-01-05 10:00:00-05', 30.00, 'EUR', 'web', 'completed'),
    ('#1002', 'bob@example.com', '2025-01-06 10:30:00+01', 12.50, 'EUR', 'pos', 'refunded'),
    ('#1003', 'ann@example.com', '2025-02-01 01:15:00+01', 8.00, 'EUR', 'web', 'cancelled'),
    ('#1004', 'cid-77', '2025-02-03 18:00:00+00', 30.00, 'EUR', 'web', 'completed'),
    ('#1008', 'bob@example.com', '2025-03-01 13:00:00+01', 99.99, 'EUR', 'shopify_draft_order', 'completed'),
    ('#1009', NULL, '2025-03-02 13:00:00+01', 5.00, 'EUR', 'web', 'completed');
"""
COLUMNS = {"order_id": "id", "customer_id": "customer", "ordered_at": "created", "amount": "total", "currency": "cur"}


@pytest.fixture(scope="module")
def server():
    """The tests' server with a password-protected read-only role (scram) for the shop database."""
    with PostgresServer() as pg:
        pg.create_database("shopdb")
        pg.psql(f"CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}'")
        pg.psql(
            "CREATE SCHEMA shop; " + ORDERS_SQL + " GRANT USAGE ON SCHEMA shop TO reader; "
            "GRANT SELECT ON ALL TABLES IN SCHEMA shop TO reader;",
            database="shopdb",
        )
        hba = pg.data / "pg_hba.conf"
        hba.write_text("host all reader 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        pg._run(str(pg.bindir / "pg_ctl"), "-D", str(pg.data), "reload")
        yield pg


def conninfo(pg, password: str = PASSWORD) -> str:
    return f"host=127.0.0.1 port={pg.port} user=reader password={password} dbname=shopdb"


def test_postgres_table_loads_the_same_orders_as_landing_files(project, server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SHOP_PG", conninfo(server))
    declare(project, {"pg-shop": {"source": {"kind": "postgres", "env": "SHOP_PG", "table": "shop.orders",
                                             "columns": COLUMNS}}})
    result = load(project, "pg-shop")
    assert result.success, failure(result)
    twin = landing_twin(project)
    pd.testing.assert_frame_equal(orders(project, "pg-shop"), twin)


def test_postgres_query_by_url(project, server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SHOP_PG_URL", f"postgresql://reader:{PASSWORD}@127.0.0.1:{server.port}/shopdb")
    query = "SELECT id, customer, created, total, cur FROM shop.orders WHERE total > 10"
    declare(project, {"pg-shop": {"source": {"kind": "postgres", "env": "SHOP_PG_URL", "query": query,
                                             "columns": COLUMNS}}})
    result = load(project, "pg-shop")
    assert result.success, failure(result)
    assert sorted(orders(project, "pg-shop").order_id) == ["#1001", "#1002", "#1004", "#1008"]


@pytest.mark.parametrize("form", ["conninfo", "url"])
def test_wrong_password_is_one_line_naming_the_source_without_the_password(project, server, monkeypatch, form):  # noqa: F811
    monkeypatch.setenv("SHOP_PG", conninfo(server))
    declare(project, {"pg-shop": {"source": {"kind": "postgres", "env": "SHOP_PG", "table": "shop.orders",
                                             "columns": COLUMNS}}})
    assert load(project, "pg-shop").success
    before = orders(project, "pg-shop")
    wrong = "Wr0ng-pa55word"
    monkeypatch.setenv(
        "SHOP_PG",
        conninfo(server, wrong) if form == "conninfo" else f"postgresql://reader:{wrong}@127.0.0.1:{server.port}/shopdb",
    )
    result = load(project, "pg-shop")
    message = failure(result)
    assert message.startswith("postgres source (env SHOP_PG, shop.orders): cannot connect (")
    assert "password authentication failed" in message
    assert "\n" not in message and wrong not in message and PASSWORD not in message
    assert wrong not in str(result.all_events)
    pd.testing.assert_frame_equal(orders(project, "pg-shop"), before)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"table": "shop.missing"}, "postgres source (env SHOP_PG, shop.missing): cannot be read ("),
        ({"table": "shop.orders", "columns": {**COLUMNS, "amount": "price"}},
         "postgres source (env SHOP_PG, shop.orders): missing column(s) amount (as 'price'); found "),
        ({"query": "SELECT id FROM shop.nothing"}, "postgres source (env SHOP_PG, query): cannot be read ("),
        ({"table": "shop.orders", "env": "NOT_SET_ANYWHERE"},
         "postgres source (env NOT_SET_ANYWHERE, shop.orders): environment variable NOT_SET_ANYWHERE is not set"),
    ],
)
def test_bad_postgres_sources_fail_with_one_line(project, server, monkeypatch, source, expected):  # noqa: F811
    monkeypatch.setenv("SHOP_PG", conninfo(server))
    declare(project, {"pg-shop": {"source": {"kind": "postgres", "env": "SHOP_PG", "columns": COLUMNS, **source}}})
    message = failure(load(project, "pg-shop"))
    assert message.startswith(expected) and "\n" not in message and PASSWORD not in message


def test_unreachable_server_is_one_line(project, server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SHOP_PG", f"host=127.0.0.1 port=1 user=reader password={PASSWORD} dbname=shopdb")
    declare(project, {"pg-shop": {"source": {"kind": "postgres", "env": "SHOP_PG", "table": "shop.orders"}}})
    message = failure(load(project, "pg-shop"))
    assert message.startswith("postgres source (env SHOP_PG, shop.orders): cannot connect (")
    assert PASSWORD not in message and "\n" not in message


def load_log(project, account: str) -> pd.DataFrame:  # noqa: F811
    return stored(project, "raw.load_log", account).sort_values("loaded_at").reset_index(drop=True)


def incremental_account(project, server, monkeypatch, account: str, table: str) -> None:  # noqa: F811
    """``account`` reads a copy of shop.orders (as ``table``) with update column ``changed``."""
    server.psql(
        f"CREATE TABLE shop.{table} AS SELECT *, created AS changed FROM shop.orders; "
        f"GRANT SELECT ON shop.{table} TO reader;",
        database="shopdb",
    )
    monkeypatch.setenv("SHOP_PG", conninfo(server))
    declare(project, {account: {"source": {"kind": "postgres", "env": "SHOP_PG", "table": f"shop.{table}",
                                           "columns": COLUMNS, "update_column": "changed"}}})


def test_incremental_loads_read_only_changed_rows_and_equal_a_full_reload(project, server, monkeypatch):  # noqa: F811
    incremental_account(project, server, monkeypatch, "pg-inc", "orders_inc")
    assert load(project, "pg-inc").success
    server.psql(
        "INSERT INTO shop.orders_inc (id, customer, created, total, cur, channel, status, changed) VALUES "
        "('#1010', 'gil@example.com', '2025-04-01 10:00:00+00', 15.00, 'EUR', 'web', 'completed', now()), "
        "('#1011', NULL, '2025-04-02 10:00:00+00', 15.00, 'EUR', 'web', 'completed', now()); "
        "UPDATE shop.orders_inc SET total = 40.00, status = 'refunded', changed = now() WHERE id = '#1004'; "
        "UPDATE shop.orders_inc SET customer = 'hal@example.com', changed = now() WHERE id = '#1009';",
        database="shopdb",
    )
    assert load(project, "pg-inc").success
    incremental = orders(project, "pg-inc")
    rejected = stored(project, "raw.rejected_orders", "pg-inc")[ORDER_COLUMNS + ["reason"]].reset_index(drop=True)
    assert load(project, "pg-inc", full_reload=True).success
    log = load_log(project, "pg-inc")
    assert list(log["mode"]) == ["full", "incremental", "full"]
    assert list(log.rows_read) == [6, 4, 8]
    assert list(log.rows_rejected) == [1, 1, 1]
    assert log.read_since[1] == log.watermark[0] and log.watermark[1] == log.watermark[2] > log.watermark[0]
    pd.testing.assert_frame_equal(incremental, orders(project, "pg-inc"))
    after_full = stored(project, "raw.rejected_orders", "pg-inc")[ORDER_COLUMNS + ["reason"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(rejected, after_full)
    assert incremental.set_index("order_id").loc["#1004", "status"] == "refunded"
    assert "#1009" in set(incremental.order_id) and "#1011" in set(after_full.order_id)
    # nothing changed: the next load reads nothing and keeps every row
    assert load(project, "pg-inc").success
    assert load_log(project, "pg-inc").rows_read.iloc[-1] == 0
    pd.testing.assert_frame_equal(incremental, orders(project, "pg-inc"))


def test_sensor_polls_the_update_column_and_runs_only_accounts_with_newer_rows(project, server, monkeypatch):  # noqa: F811
    import dagster as dg

    from clv_assets_tests.test_sensor import _tick

    incremental_account(project, server, monkeypatch, "pg-poll", "orders_poll")
    landing = project / "landing"
    with dg.instance_for_test() as instance:
        first = _tick(instance, landing, None)
        assert [r.partition_key for r in first.run_requests] == ["pg-poll"]
        assert load(project, "pg-poll", instance=instance).success
        # without a cursor the sensor compares the polled maximum with what the load recorded
        assert _tick(instance, landing, None).run_requests == []
        server.psql("UPDATE shop.orders_poll SET total = 31, changed = now() WHERE id = '#1001'", database="shopdb")
        changed = _tick(instance, landing, first.cursor)
        assert [r.partition_key for r in changed.run_requests] == ["pg-poll"]
        assert _tick(instance, landing, changed.cursor).run_requests == []
        # an unreachable server: a warning, no run, and the account is looked at again later
        monkeypatch.setenv("SHOP_PG", conninfo(server, "wrong-pw"))
        assert _tick(instance, landing, changed.cursor).run_requests == []
