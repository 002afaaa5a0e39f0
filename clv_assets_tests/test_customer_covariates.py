"""features.customer_covariates' SQL on a real DuckDB file against pandas on the landed orders."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from clv_assets.lib.landing import landing_files, stage_files
from clv_assets.lib.warehouse import read_query, read_sql, replace_account_rows, run_sql, transaction
from clv_assets.stats.purchase.bgnbd_covariates import GRID_PARAMETERS, VALUE_LIMIT, VALUE_STEP

pytestmark = pytest.mark.fast

ACCOUNT = "cov-shop"
AS_OF = date(2025, 6, 30)
LOADED_AT = pd.Timestamp("2025-07-01", tz="UTC").to_pydatetime()
CHANNELS = ["email", "search", "sms", "social", "affiliate", "direct"]


def _orders(seed: int = 11, n_customers: int = 300) -> pd.DataFrame:
    """Orders with uneven first-order channels, same-day first orders, cancellations and
    orders after AS_OF."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
    rows = []
    for c in range(n_customers):
        first = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 560)))
        for k in range(int(rng.integers(1, 5))):
            same_day = k == 1 and rng.random() < 0.3
            when = first + pd.Timedelta(days=0 if same_day else int(rng.integers(0, 90)) * k, hours=int(rng.integers(0, 23)))
            rows.append(
                {
                    "order_id": f"o{c}-{k}",
                    "customer_id": f"c{c:03d}",
                    "ordered_at": when.isoformat(),
                    "amount": f"{rng.gamma(2.0, 20.0):.2f}",
                    "currency": "EUR",
                    "channel": rng.choice(CHANNELS, p=weights),
                    "status": rng.choice(["completed"] * 8 + ["cancelled", "refunded"]),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("covariates")
    folder = root / "landing" / ACCOUNT
    folder.mkdir(parents=True)
    orders = _orders()
    orders.to_csv(folder / "orders.csv", index=False)
    params = {"account": ACCOUNT, "loaded_at": LOADED_AT, "currency": None, "as_of": AS_OF, "top_channels": 3, **GRID_PARAMETERS}
    # the asset binds the stored features.rfm's as_of; the backtest its cutoff
    cov_params = params
    conn = duckdb.connect(str(root / "warehouse.duckdb"))
    conn.execute("SET TimeZone = 'UTC'")
    stage_files(conn, landing_files(folder))
    run_sql(conn, "CREATE OR REPLACE TEMP TABLE validated_landing_rows AS " + read_query("validated_landing_rows"), params)
    with transaction(conn):
        for table in ("raw.orders", "raw.rejected_orders", "staging.customer_transactions", "features.rfm"):
            replace_account_rows(conn, table, ACCOUNT, read_sql(table), params)
        replace_account_rows(conn, "features.customer_covariates", ACCOUNT, read_sql("features.customer_covariates"), cov_params)
    yield conn, orders
    conn.close()


def _expected(orders: pd.DataFrame, top: int) -> pd.DataFrame:
    done = orders[orders.status == "completed"].assign(
        ordered_at=lambda f: pd.to_datetime(f.ordered_at), amount=lambda f: f.amount.astype(float)
    )
    done = done[(done.ordered_at.dt.date <= AS_OF) & (done.ordered_at <= pd.Timestamp(LOADED_AT).tz_localize(None))]
    done = done.assign(day=done.ordered_at.dt.date)
    first_day = done[done.day == done.groupby("customer_id").day.transform("min")]
    first = first_day.sort_values(["customer_id", "ordered_at", "order_id"]).groupby("customer_id").agg(
        channel=("channel", "first"), value=("amount", "sum")
    )
    counts = first.channel.value_counts().rename_axis("channel").reset_index(name="n")
    counts = counts.sort_values(["n", "channel"], ascending=[False, True]).reset_index(drop=True)
    rank = {c: i + 1 for i, c in enumerate(counts.channel)}
    first["rank"] = first.channel.map(rank).clip(upper=top + 1)
    first["label"] = np.where(first["rank"] <= top, first.channel, "other")
    log_value = np.log1p(first.value)
    first["z"] = (log_value - log_value.mean()) / log_value.std(ddof=0)
    return first


def test_covariates_match_pandas_on_the_landed_orders(warehouse):
    conn, orders = warehouse
    got = conn.execute("SELECT * FROM features.customer_covariates ORDER BY customer_id").df().set_index("customer_id")
    expected = _expected(orders, top=3).sort_index()
    rfm = conn.execute("SELECT customer_id FROM features.rfm ORDER BY customer_id").df().customer_id
    assert list(got.index) == list(rfm) == list(expected.index)
    assert list(got.first_channel) == list(expected.label)
    assert list(got.first_channel_rank) == list(expected["rank"])
    assert (got.first_channel == "other").any() and got.first_channel.nunique() == 4
    np.testing.assert_allclose(got.first_order_value, expected.value, rtol=1e-12)
    np.testing.assert_allclose(got.first_order_value_z, expected.z, rtol=1e-9, atol=1e-12)
    assert abs(got.first_order_value_z.mean()) < 1e-9 and abs(got.first_order_value_z.std(ddof=0) - 1) < 1e-9
    assert set(got.as_of.dt.date) == {AS_OF}
    # the covariate models' level: z clipped to +/- VALUE_LIMIT on a VALUE_STEP grid (no -0.0)
    level = np.clip(got.first_order_value_z, -VALUE_LIMIT, VALUE_LIMIT) / VALUE_STEP
    np.testing.assert_array_equal(got.first_order_value_level, np.sign(level) * np.floor(np.abs(level) + 0.5) * VALUE_STEP + 0.0)
    assert not np.signbit(got.first_order_value_level[got.first_order_value_level == 0]).any()


def test_top_channels_sets_the_pooling(warehouse):
    conn, orders = warehouse
    one = run_sql(conn, read_sql("features.customer_covariates"), {"account": ACCOUNT, "top_channels": 1, "as_of": AS_OF, **GRID_PARAMETERS}).df()
    expected = _expected(orders, top=1).sort_index()
    assert sorted(one.first_channel.unique()) == sorted(expected.label.unique()) and one.first_channel_rank.max() == 2
    assert (one.sort_values("customer_id").first_channel.to_numpy() == expected.label.to_numpy()).all()


def test_as_of_a_cutoff_covers_the_customers_by_then(warehouse):
    """The backtest's calibration covariates: features.rfm's customers as of the cutoff,
    ranks and standardisation among them."""
    conn, orders = warehouse
    cutoff = date(2024, 12, 31)
    got = run_sql(conn, read_sql("features.customer_covariates"), {"account": ACCOUNT, "top_channels": 3, "as_of": cutoff, **GRID_PARAMETERS}).df()
    rfm = run_sql(conn, read_sql("features.rfm"), {"account": ACCOUNT, "as_of": cutoff}).df()
    assert sorted(got.customer_id) == sorted(rfm.customer_id) and len(got) < len(orders.customer_id.unique())
    assert abs(got.first_order_value_z.mean()) < 1e-9 and set(got.as_of.dt.date) == {cutoff}


def test_the_asset_materialises_as_of_the_stored_features(tmp_path):
    """A real Dagster run of raw orders -> staging -> features.rfm -> customer_covariates:
    the asset takes the stored features.rfm's as_of and its customers."""
    import dagster as dg

    from clv_assets.definitions import build_defs
    from clv_assets.lib.accounts import accounts_partitions
    from clv_assets.lib.keys import CUSTOMER_COVARIATES
    from clv_assets.lib.resources import warehouse_resource

    (tmp_path / "landing" / ACCOUNT).mkdir(parents=True)
    _orders().to_csv(tmp_path / "landing" / ACCOUNT / "orders.csv", index=False)
    defs = build_defs(warehouse=tmp_path / "warehouse.duckdb", landing_dir=tmp_path / "landing")
    selection = dg.AssetSelection.assets(CUSTOMER_COVARIATES).upstream().required_multi_asset_neighbors()
    job = dg.define_asset_job("covariates", selection=selection, partitions_def=accounts_partitions)
    job_def = dg.Definitions(assets=defs.assets, resources=defs.resources, jobs=[job]).resolve_job_def("covariates")
    run_config = {"ops": {"features__rfm": {"config": {"as_of": AS_OF.isoformat()}},
                          "features__customer_covariates": {"config": {"top_channels": 2}}}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(accounts_partitions.name, [ACCOUNT])
        result = job_def.execute_in_process(instance=instance, partition_key=ACCOUNT, run_config=run_config, raise_on_error=False)
    assert result.success
    with warehouse_resource(tmp_path / "warehouse.duckdb").get_connection() as conn:
        got = conn.execute("SELECT * FROM features.customer_covariates").df()
        rfm = conn.execute("SELECT customer_id, as_of FROM features.rfm").df()
    assert sorted(got.customer_id) == sorted(rfm.customer_id) and set(got.as_of) == set(rfm.as_of)
    assert got.first_channel.nunique() == 3 and got.first_channel_rank.max() == 3
