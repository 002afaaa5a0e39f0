"""Order sources other than landing files: ELT tables, Shopify exports, through real loads."""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from clv_assets.defs.ingestion.assets import raw_orders
from clv_assets.lib.resources import LandingZone, warehouse_resource
from clv_assets.lib.run_config import account_run_config

ORDER_COLUMNS = ["order_id", "customer_id", "ordered_at", "amount", "currency", "channel", "status"]

# What every source below holds, in the landing layout: the loads must store the same rows.
LANDING_CSV = """order_id,customer_id,ordered_at,amount,currency,channel,status
#1001,ann@example.com,2025-01-05T15:00:00Z,30.00,EUR,web,completed
#1002,bob@example.com,2025-01-06T09:30:00Z,12.50,EUR,pos,refunded
#1003,ann@example.com,2025-02-01T00:15:00Z,8.00,EUR,web,cancelled
#1004,cid-77,2025-02-03T18:00:00Z,30.00,EUR,web,completed
#1008,bob@example.com,2025-03-01T12:00:00Z,99.99,EUR,shopify_draft_order,completed
"""

SHOPIFY_HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku", "Cancelled at",
    "Refunded Amount", "Source", "Id", "Customer ID",
]


def shopify_row(**values) -> dict:
    return {column: values.get(column.replace(" ", "_").lower(), "") for column in SHOPIFY_HEADER}


# One row per line item, order-level fields on each order's first line only.
SHOPIFY_ROWS = [
    shopify_row(name="#1001", email="ann@example.com", financial_status="paid", currency="EUR", subtotal="25.00",
                total="30.00", created_at="2025-01-05 10:00:00 -0500", lineitem_quantity="1",
                lineitem_name="Mug", lineitem_price="10.00", source="web", id="5001"),
    shopify_row(name="#1001", lineitem_quantity="3", lineitem_name="Tea", lineitem_price="5.00"),
    shopify_row(name="#1002", email="bob@example.com", financial_status="refunded", currency="EUR",
                total="12.50", created_at="2025-01-06 10:30:00 +0100", lineitem_quantity="1",
                lineitem_name="Pot", lineitem_price="12.50", refunded_amount="12.50", source="pos", id="5002"),
    shopify_row(name="#1003", email="ann@example.com", financial_status="voided", currency="EUR", total="8.00",
                created_at="2025-02-01 01:15:00 +0100", lineitem_quantity="1", lineitem_name="Tea",
                lineitem_price="8.00", source="web", id="5003"),
    # partially refunded: 50 paid, 20 refunded -> 30; the export's customer id wins over the email
    shopify_row(name="#1004", email="dee@example.com", financial_status="partially_refunded", currency="EUR",
                total="50.00", created_at="2025-02-03 18:00:00 +0000", lineitem_quantity="2",
                lineitem_name="Cup", lineitem_price="25.00", refunded_amount="20.00", source="web", id="5004",
                customer_id="cid-77"),
    shopify_row(name="#1004", lineitem_quantity="1", lineitem_name="Saucer", lineitem_price="0.00"),
    # rejected: no email (a POS sale without a customer), a bad date, an unknown status, no name
    shopify_row(name="#1005", financial_status="paid", currency="EUR", total="4.00",
                created_at="2025-02-04 09:00:00 +0000", lineitem_name="Tea", source="pos"),
    shopify_row(name="#1006", email="eve@example.com", financial_status="paid", currency="EUR", total="4.00",
                created_at="04/02/2025 9am", lineitem_name="Tea", source="web"),
    shopify_row(name="#1007", email="eve@example.com", financial_status="chargeback", currency="EUR",
                total="4.00", created_at="2025-02-05 09:00:00 +0000", lineitem_name="Tea", source="web"),
    shopify_row(email="fay@example.com", financial_status="paid", currency="EUR", total="4.00",
                created_at="2025-02-05 09:00:00 +0000", lineitem_name="Tea", source="web"),
]
SHOPIFY_EXTRA = [  # a second export file
    shopify_row(name="#1008", email="bob@example.com", financial_status="paid", currency="EUR", total="99.99",
                created_at="2025-03-01 13:00:00 +0100", lineitem_name="Kettle", lineitem_price="99.99",
                source="shopify_draft_order", id="5008"),
]
SHOPIFY_REJECTED = {
    "#1005": "missing_customer_id",
    "#1006": "unparseable_timestamp",
    "#1007": "unknown_status",
    None: "missing_order_id",
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A landing folder, accounts.yaml beside it and a warehouse file of the test's own."""
    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.delenv("CLV_ACCOUNTS_FILE", raising=False)
    return tmp_path


def declare(project, accounts: dict) -> None:
    (project / "accounts.yaml").write_text(yaml.safe_dump({"accounts": accounts}))


def load(project, account: str, full_reload: bool = False, instance=None) -> dg.ExecuteInProcessResult:
    """raw_orders for ``account``, materialised by Dagster (on a fresh instance unless given one)."""
    instance = instance or dg.DagsterInstance.ephemeral()
    if account not in instance.get_dynamic_partitions("accounts"):
        instance.add_dynamic_partitions("accounts", [account])
    return dg.materialize(
        [raw_orders],
        partition_key=account,
        instance=instance,
        resources={
            "duckdb": warehouse_resource(project / "warehouse.duckdb"),
            "landing": LandingZone(root=str(project / "landing")),
        },
        raise_on_error=False,
        run_config={"ops": {"raw_orders": account_run_config(full_reload=True)["ops"]["raw_orders"]}} if full_reload else None,
    )


def failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message.strip()
    return message.removeprefix("dagster._core.definitions.events.Failure: ")


def stored(project, table: str, account: str) -> pd.DataFrame:
    with warehouse_resource(project / "warehouse.duckdb").get_connection() as conn:
        return conn.execute(f"SELECT * FROM {table} WHERE account = $a ORDER BY ALL", {"a": account}).df()


def orders(project, account: str) -> pd.DataFrame:
    return stored(project, "raw.orders", account)[ORDER_COLUMNS].reset_index(drop=True)


def landing_twin(project) -> pd.DataFrame:
    folder = project / "landing" / "twin"
    folder.mkdir()
    (folder / "orders.csv").write_text(LANDING_CSV)
    assert load(project, "twin").success
    return orders(project, "twin")


def write_shopify(path, rows) -> None:
    pd.DataFrame(rows, columns=SHOPIFY_HEADER).to_csv(path, index=False)


def test_shopify_export_every_line_kept_or_rejected_and_same_orders_as_landing_files(project):
    folder = project / "landing" / "shop"
    folder.mkdir()
    write_shopify(folder / "orders_export_1.csv", SHOPIFY_ROWS)
    write_shopify(folder / "orders_export_2.csv", SHOPIFY_EXTRA)
    (folder / "_account.json").write_text(json.dumps({"source": {"kind": "shopify_export"}}))
    assert load(project, "shop").success
    pd.testing.assert_frame_equal(orders(project, "shop"), landing_twin(project))
    rejected = stored(project, "raw.rejected_orders", "shop")
    assert dict(zip(rejected.order_id.astype(object).where(rejected.order_id.notna(), None), rejected.reason)) == SHOPIFY_REJECTED
    # every order (distinct Name) and every unnamed line is stored once, kept or rejected
    lines = pd.DataFrame(SHOPIFY_ROWS + SHOPIFY_EXTRA)
    named = lines[lines.Name != ""].Name.nunique()
    assert len(orders(project, "shop")) + len(rejected) == named + (lines.Name == "").sum()
    files = stored(project, "raw.landing_files", "shop")
    assert list(files.source_file) == ["orders_export_1.csv", "orders_export_2.csv"]


def test_shopify_export_without_a_required_column_fails_with_one_line_and_keeps_rows(project):
    folder = project / "landing" / "shop"
    folder.mkdir()
    write_shopify(folder / "orders_export_1.csv", SHOPIFY_ROWS)
    (folder / "_account.json").write_text(json.dumps({"source": {"kind": "shopify_export"}}))
    assert load(project, "shop").success
    before = orders(project, "shop")
    pd.DataFrame(SHOPIFY_ROWS).drop(columns=["Total"]).to_csv(folder / "orders_export_1.csv", index=False)
    message = failure(load(project, "shop"))
    assert message == f"{folder / 'orders_export_1.csv'}: not a Shopify orders export, missing column(s) Total"
    pd.testing.assert_frame_equal(orders(project, "shop"), before)


def _dlt_frame() -> pd.DataFrame:
    """LANDING_CSV under an ELT tool's own names, with dlt's bookkeeping columns."""
    frame = pd.read_csv(pd.io.common.StringIO(LANDING_CSV), dtype=str)
    frame = frame.rename(columns={"order_id": "name", "customer_id": "email", "ordered_at": "created_at",
                                  "amount": "total_price"})
    frame["total_price"] = frame.total_price.astype(float)
    frame["_dlt_load_id"] = "1712345678.1"
    frame["_dlt_id"] = [f"x{i}" for i in range(len(frame))]
    return frame


TABLE_COLUMNS = {"order_id": "name", "customer_id": "email", "ordered_at": "created_at", "amount": "total_price"}


def test_duckdb_table_written_as_dlt_writes_it_loads_the_same_orders(project):
    database = project / "elt.duckdb"
    frame = _dlt_frame()
    with duckdb.connect(str(database)) as conn:
        conn.execute("CREATE SCHEMA shop_data")
        conn.execute("CREATE TABLE shop_data.orders AS SELECT * FROM frame")
    declare(project, {"elt-shop": {"currency": "EUR", "source": {
        "kind": "table", "database": "elt.duckdb", "table": "shop_data.orders", "columns": TABLE_COLUMNS}}})
    result = load(project, "elt-shop")
    assert result.success, failure(result)
    pd.testing.assert_frame_equal(orders(project, "elt-shop"), landing_twin(project))
    assert stored(project, "raw.rejected_orders", "elt-shop").empty


def test_parquet_glob_loads_the_same_orders(project):
    folder = project / "lake"
    folder.mkdir()
    frame = _dlt_frame()
    frame.iloc[:2].to_parquet(folder / "part-1.parquet")
    frame.iloc[2:].to_parquet(folder / "part-2.parquet")
    declare(project, {"pq-shop": {"source": {"kind": "table", "parquet": "lake/*.parquet", "columns": TABLE_COLUMNS}}})
    result = load(project, "pq-shop")
    assert result.success, failure(result)
    pd.testing.assert_frame_equal(orders(project, "pq-shop"), landing_twin(project))


def test_a_mapped_column_missing_from_the_table_fails_with_one_line(project):
    database = project / "elt.duckdb"
    frame = _dlt_frame().drop(columns=["email"])
    with duckdb.connect(str(database)) as conn:
        conn.execute("CREATE TABLE orders AS SELECT * FROM frame")
    declare(project, {"elt-shop": {"source": {
        "kind": "table", "database": str(database), "table": "orders", "columns": TABLE_COLUMNS}}})
    message = failure(load(project, "elt-shop"))
    assert message.startswith(f"table source {database}:orders: missing column(s) customer_id (as 'email'); found ")
    assert "\n" not in message and "_dlt_" not in message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"kind": "ftp"}, "key 'source': Input tag 'ftp' found using 'kind' does not match any of the expected tags"),
        ({"kind": "table", "table": "orders"}, "key 'source.table': set either 'database' and 'table', or 'parquet'"),
        ({"kind": "postgres", "env": "PG", "table": "orders; DROP TABLE raw.orders"}, "key 'source.postgres.table'"),
        ({"kind": "postgres", "env": "PG", "query": "DELETE FROM orders"}, "must be a SELECT"),
        ({"kind": "table", "parquet": "x/*.parquet", "columns": {"amount_x": "a"}}, "key 'source.table.columns"),
    ],
)
def test_invalid_sources_fail_before_loading_with_one_line(project, source, expected):
    declare(project, {"bad": {"source": source}})
    message = failure(load(project, "bad"))
    assert message.startswith(f"{project / 'accounts.yaml'}: accounts.bad: key 'source")
    assert expected in message and "\n" not in message


def test_accounts_come_from_folders_and_accounts_yaml(project):
    from clv_assets.lib.landing import discover_accounts

    (project / "landing" / "folder-shop").mkdir()
    declare(project, {"yaml-shop": {"source": {"kind": "table", "parquet": "x/*.parquet"}}})
    assert discover_accounts(project / "landing") == (["folder-shop", "yaml-shop"], [])


def test_every_row_rejected_fails_the_run_and_keeps_stored_rows(project):
    folder = project / "landing" / "shop"
    folder.mkdir()
    (folder / "orders.csv").write_text(LANDING_CSV)
    assert load(project, "shop").success
    before = orders(project, "shop")
    (folder / "_account.json").write_text(json.dumps({"currency": "USD"}))
    message = failure(load(project, "shop"))
    assert message == "account 'shop': every one of its 5 rows was rejected, 5 as currency_mismatch; stored rows left as they were"
    pd.testing.assert_frame_equal(orders(project, "shop"), before)


def test_cli_runs_an_accounts_yaml_source_to_the_same_predictions_as_its_landing_files(project, monkeypatch):
    """The demo account's own files, copied into a dlt-style DuckDB table, through `clv-assets materialize`."""
    from clv_assets.cli import main
    from clv_assets.demo import write_demo_accounts

    monkeypatch.setenv("CLV_WAREHOUSE", str(project / "warehouse.duckdb"))
    monkeypatch.setenv("CLV_LANDING_DIR", str(project / "landing"))
    monkeypatch.setenv("DAGSTER_HOME", str(project / "dagster_home"))
    files = project / "landing" / write_demo_accounts(project / "landing", n_accounts=1, n_customers=150, seed=5)[0]["account"]
    with duckdb.connect(str(project / "elt.duckdb")) as conn:
        conn.execute("CREATE TABLE orders AS SELECT * EXCLUDE (filename) FROM read_csv($p, all_varchar = true, "
                     "filename = true, comment = '') UNION ALL BY NAME SELECT * FROM read_parquet($q)",
                     {"p": str(next(files.glob("*.csv"))), "q": str(next(files.glob("*.parquet")))})
        conn.execute("ALTER TABLE orders ADD COLUMN _dlt_id VARCHAR DEFAULT 'x'")
    declare(project, {"elt-shop": {"source": {"kind": "table", "database": "elt.duckdb", "table": "orders"}}})
    status = main(["materialize"])
    columns = "customer_id, round(p_alive, 6), round(expected_orders, 6), round(expected_aov, 6)"
    with warehouse_resource(project / "warehouse.duckdb").get_connection() as conn:
        got, want = (
            conn.execute(f"SELECT {columns} FROM predictions.customers WHERE account = $a ORDER BY 1", {"a": a}).fetchall()
            for a in ("elt-shop", files.name)
        )
    assert got == want and len(got) > 100
    assert orders(project, "elt-shop").sort_values("order_id").equals(orders(project, files.name).sort_values("order_id"))
    assert status == 0


def test_full_reload_flag_reaches_the_run_config():
    from clv_assets.account_runner import RunOptions
    from clv_assets.cli import build_parser

    args = build_parser().parse_args(["materialize", "--full-reload"])
    options = RunOptions(full_reload=args.full_reload)
    assert options.run_config()["ops"]["raw_orders"] == {"config": {"full_reload": True}}
    assert "--full-reload" in options.worker_argv(["a"])
    assert "raw_orders" not in RunOptions().run_config()["ops"]


def test_landing_folder_rereads_only_new_or_changed_files_and_equals_a_full_reload(project):
    import os

    folder = project / "landing" / "shop"
    folder.mkdir()
    lines = LANDING_CSV.splitlines()
    header = lines[0]
    (folder / "a.csv").write_text("\n".join([header, *lines[1:3]]) + "\n")
    (folder / "b.csv").write_text("\n".join([header, *lines[3:5]]) + "\n")
    assert load(project, "shop").success
    # a new file repeating an order of an unchanged file (rejected as a duplicate), and b.csv rewritten
    (folder / "c.csv").write_text("\n".join([header, lines[1].replace("30.00", "31.00"), lines[5]]) + "\n")
    (folder / "b.csv").write_text("\n".join([header, *lines[3:5]]) + "\n")
    os.utime(folder / "b.csv", ns=(1, 1))
    assert load(project, "shop").success
    incremental = orders(project, "shop"), stored(project, "raw.rejected_orders", "shop")[ORDER_COLUMNS + ["reason"]]
    log = stored(project, "raw.load_log", "shop").sort_values("loaded_at").reset_index(drop=True)
    assert list(log["mode"]) == ["full", "incremental"]
    assert [sorted(f) for f in log.files_read] == [["a.csv", "b.csv"], ["b.csv", "c.csv"]]
    assert list(log.rows_read) == [4, 4]
    assert load(project, "shop", full_reload=True).success
    pd.testing.assert_frame_equal(incremental[0], orders(project, "shop"))
    pd.testing.assert_frame_equal(
        incremental[1], stored(project, "raw.rejected_orders", "shop")[ORDER_COLUMNS + ["reason"]]
    )
    assert list(incremental[1].reason) == ["duplicate_order_id"]
    assert stored(project, "raw.landing_files", "shop").rows_landed.sum() == 6
