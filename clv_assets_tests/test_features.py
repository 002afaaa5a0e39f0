"""features.rfm against pymc-marketing's rfm_summary, and re-run idempotence."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
from pymc_marketing.clv.utils import rfm_summary

from clv_assets.cli import main

TABLES = ("raw.orders", "raw.rejected_orders", "raw.landing_files", "staging.customer_transactions", "features.rfm")


def test_rfm_matches_pymc_marketing_rfm_summary(workspace):
    for truth in workspace.truths:
        account = truth["account"]
        orders = workspace.query(
            "SELECT customer_id, ordered_at, CAST(amount AS DOUBLE) AS amount FROM raw.orders "
            "WHERE account = $a AND status = 'completed'",
            {"a": account},
        )
        expected = rfm_summary(
            orders,
            customer_id_col="customer_id",
            datetime_col="ordered_at",
            monetary_value_col="amount",
            observation_period_end=workspace.as_of.isoformat(),
            time_unit="D",
        ).set_index("customer_id").sort_index()
        got = workspace.query(
            'SELECT customer_id, frequency, recency, "T", monetary_value FROM features.rfm WHERE account = $a',
            {"a": account},
        ).set_index("customer_id").sort_index()
        assert list(got.index) == list(expected.index)
        for column in ("frequency", "recency", "T"):
            np.testing.assert_array_equal(got[column].to_numpy(float), expected[column].to_numpy(), column)
        np.testing.assert_allclose(got.monetary_value, expected.monetary_value, rtol=1e-9)
        assert (got.frequency > 0).sum() > 0


def test_orders_after_as_of_stay_raw_but_not_in_features(workspace):
    demo = {"accounts": [t["account"] for t in workspace.truths]}
    late = workspace.query(
        "SELECT count(*) AS n FROM raw.orders WHERE order_date > $d AND list_contains($accounts, account)",
        {"d": workspace.as_of, **demo},
    ).n[0]
    assert late > 0
    rfm = workspace.query("SELECT last_order_date, as_of FROM features.rfm WHERE list_contains($accounts, account)", demo)
    assert rfm.last_order_date.max().date() <= workspace.as_of
    assert set(rfm.as_of.dt.date) == {workspace.as_of}


def test_materialize_twice_leaves_counts_unchanged(workspace):
    # one account re-run is enough to show idempotence, and the others must not move either
    account = workspace.truths[0]["account"]
    before = {(t, a): workspace.count(t, a) for t in TABLES for a in (account, None)}
    assert main(["materialize", "--account", account, "--as-of", workspace.as_of.isoformat()]) == 0
    assert {(t, a): workspace.count(t, a) for t in TABLES for a in (account, None)} == before


def test_materializations_record_metadata_and_checks_pass(workspace):
    instance = dg.DagsterInstance.get()
    for table in TABLES:
        event = instance.get_latest_materialization_event(dg.AssetKey(table.split(".")))
        metadata = event.asset_materialization.metadata
        assert {"dagster/row_count", "dagster/column_schema", "preview"} <= set(metadata)
        assert metadata["dagster/column_schema"].schema.columns[0].name == "account"
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(["raw", "orders"]), "rows_conserved"), limit=50
    )
    assert records and all(r.evaluation.passed for r in records if r.evaluation)
    for check in ("rfm_invariants", "rfm_repeat_buyers_have_spend"):
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(["features", "rfm"]), check), limit=50
        )
        assert records and all(r.evaluation.passed for r in records if r.evaluation), check
