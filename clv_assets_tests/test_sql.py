"""The SQL files alone, on a real DuckDB file: landing rows -> raw -> staging -> features.

No Dagster run and no fit, so these run in the fast tier; the same files run inside the
assets (test_ingestion.py, test_features.py check them end to end).
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from pymc_marketing.clv.utils import rfm_summary

from clv_assets.lib.landing import landing_files, stage_files
from clv_assets.lib.warehouse import read_query, read_sql, replace_account_rows, run_sql, transaction

pytestmark = pytest.mark.fast

ACCOUNT = "sql-shop"
AS_OF = date(2025, 6, 30)
LOADED_AT = pd.Timestamp("2025-07-01", tz="UTC").to_pydatetime()


def _orders(seed: int = 7, n_customers: int = 60) -> pd.DataFrame:
    """Random orders with same-day repeats, cancellations, refunds and orders after AS_OF."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        first = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 500)))
        for k in range(int(rng.integers(1, 6))):
            when = first + pd.Timedelta(days=int(rng.integers(0, 120)) * k, hours=int(rng.integers(0, 20)))
            rows.append(
                {
                    "order_id": f"o{c}-{k}",
                    "customer_id": f"c{c:03d}",
                    "ordered_at": when.isoformat(),
                    "amount": f"{rng.gamma(2.0, 20.0):.2f}",
                    "currency": "EUR",
                    "channel": rng.choice(["email", "sms", "search"]),
                    "status": rng.choice(["completed"] * 8 + ["cancelled", "refunded"]),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("sql")
    folder = root / "landing" / ACCOUNT
    folder.mkdir(parents=True)
    orders = _orders()
    orders.to_csv(folder / "orders.csv", index=False)
    params = {"account": ACCOUNT, "loaded_at": LOADED_AT, "currency": None, "as_of": AS_OF}
    conn = duckdb.connect(str(root / "warehouse.duckdb"))
    conn.execute("SET TimeZone = 'UTC'")
    stage_files(conn, landing_files(folder))
    run_sql(conn, "CREATE OR REPLACE TEMP TABLE validated_landing_rows AS " + read_query("validated_landing_rows"), params)
    with transaction(conn):
        for table in ("raw.orders", "raw.rejected_orders", "staging.customer_transactions", "features.rfm"):
            replace_account_rows(conn, table, ACCOUNT, read_sql(table), params)
    yield conn, orders
    conn.close()


def test_every_landed_row_is_stored_or_rejected(warehouse):
    conn, orders = warehouse
    stored = conn.execute("SELECT order_id FROM raw.orders").df().order_id
    rejected = conn.execute("SELECT order_id, reason FROM raw.rejected_orders").df()
    # the only bad rows generated are orders stamped after the load
    future = orders.order_id[pd.to_datetime(orders.ordered_at).dt.tz_localize("UTC") > LOADED_AT]
    assert len(future) > 0
    assert sorted(rejected.order_id) == sorted(future) and set(rejected.reason) == {"future_timestamp"}
    assert len(stored) + len(rejected) == len(orders)


def test_rfm_sql_matches_pymc_marketing_rfm_summary(warehouse):
    conn, orders = warehouse
    completed = orders[orders.status == "completed"].assign(
        ordered_at=lambda f: pd.to_datetime(f.ordered_at), amount=lambda f: f.amount.astype(float)
    )
    expected = rfm_summary(
        completed,
        customer_id_col="customer_id",
        datetime_col="ordered_at",
        monetary_value_col="amount",
        observation_period_end=AS_OF.isoformat(),
        time_unit="D",
    ).set_index("customer_id").sort_index()
    got = conn.execute(
        'SELECT customer_id, frequency, recency, "T", monetary_value FROM features.rfm ORDER BY customer_id'
    ).df().set_index("customer_id")
    assert list(got.index) == list(expected.index)
    for column in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(got[column].to_numpy(float), expected[column].to_numpy(float), column)
    np.testing.assert_allclose(got.monetary_value.to_numpy(float), expected.monetary_value.to_numpy(float), rtol=1e-9)


def test_rewriting_the_partition_is_idempotent(warehouse):
    conn, _ = warehouse
    params = {"account": ACCOUNT, "as_of": AS_OF}
    before = conn.execute("SELECT count(*), sum(frequency) FROM features.rfm").fetchone()
    with transaction(conn):
        replace_account_rows(conn, "features.rfm", ACCOUNT, read_sql("features.rfm"), params)
    assert conn.execute("SELECT count(*), sum(frequency) FROM features.rfm").fetchone() == before
