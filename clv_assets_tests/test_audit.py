"""Snapshots, the audit and the drift check through real runs of the CLI as of four dates,
against an independent recomputation from raw.orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from clv_assets.cli import main
from clv_assets.demo import RECENT_FILE, write_demo_accounts
from clv_assets.lib.resources import warehouse_resource
from clv_assets.stats.audit import audit_windows

STEADY, HALVED = "steady", "halved"


def halve_after(folder, start):
    """Drop every other completed order after ``start`` (at random): the purchase rate halves.
    Orders after ``start`` are all in the recent Parquet file (the last 180 days)."""
    table = pq.read_table(folder / RECENT_FILE)
    day = pc.utf8_slice_codeunits(table["ordered_at"], 0, 10)
    late = pc.greater(day, start.isoformat()).to_numpy(zero_copy_only=False)
    drop = late & (np.random.default_rng(0).random(len(late)) < 0.5)
    pq.write_table(table.filter(~drop), folder / RECENT_FILE)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """Two demo accounts (the second's purchase rate halved after T) materialised as of T,
    T+30, T+60, T+90; the warehouse connection factory and the dates."""
    root = tmp_path_factory.mktemp("audit")
    warehouse = root / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLV_WAREHOUSE", str(warehouse))
        patch.setenv("CLV_LANDING_DIR", str(root / "landing"))
        patch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        truths = write_demo_accounts(root / "landing", n_accounts=2, n_customers=400, seed=21)
        for truth, name in zip(truths, (STEADY, HALVED), strict=True):
            (root / "landing" / truth["account"]).rename(root / "landing" / name)
        start = datetime.now(UTC).date() - timedelta(days=91)
        halve_after(root / "landing" / HALVED, start)
        dates = [start + timedelta(days=d) for d in (0, 30, 60, 90)]
        checks = []
        for as_of in dates:
            assert main(["materialize", "--as-of", as_of.isoformat(), "--method", "map"]) == 0
            checks.append(_drift_results(root / "dagster_home"))
        # a re-run of the last as_of scores its own windows again and leaves the rest
        before = _audit_tables(warehouse)
        assert main(["materialize", "--as-of", dates[-1].isoformat(), "--method", "map"]) == 0
        rerun.update(before=before, after=_audit_tables(warehouse))
        yield warehouse, dates, checks


rerun: dict = {}


def _audit_tables(warehouse):
    """The audit's three tables without audited_at, in a fixed order."""
    tables = {}
    for table in ("marts.prediction_audit", "marts.prediction_audit_detail", "marts.prediction_calibration"):
        frame = query(warehouse, f"SELECT * EXCLUDE (audited_at) FROM {table}")
        tables[table] = frame.sort_values(list(frame.columns[:12])).reset_index(drop=True)
    return tables


def _drift_results(dagster_home):
    """The latest drift check result of each account."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        key = dg.AssetCheckKey(dg.AssetKey(["marts", "prediction_audit"]), "predictions_hold")
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=20)
        latest = {}
        for record in records:
            evaluation = record.event.dagster_event.event_specific_data
            latest.setdefault(evaluation.partition, evaluation.passed)
        return latest


def query(warehouse, sql, params=None):
    with warehouse_resource(warehouse).get_connection() as conn:
        return conn.execute(sql, params or {}).df()


def test_one_snapshot_per_as_of_with_its_predictions(audited):
    warehouse, dates, _ = audited
    kept = query(warehouse, "SELECT account, as_of, count(*) AS n, count(DISTINCT run_id) AS runs FROM models.prediction_snapshots GROUP BY ALL ORDER BY ALL")
    assert sorted(set(kept["as_of"].dt.date)) == dates
    assert (kept["runs"] == 1).all()
    # the last snapshot holds the current predictions, customer by customer
    diff = query(
        warehouse,
        "SELECT count(*) AS n FROM models.prediction_snapshots s JOIN marts.customer_profile p USING (account, customer_id, as_of) "
        "WHERE abs(s.p_order - p.p_order) > 1e-6 OR abs(s.predicted_spend - p.predicted_spend) > 1e-3 * (1 + p.predicted_spend) "
        "OR s.churn_band IS DISTINCT FROM p.churn_band OR s.frequency <> p.repeat_transactions",
    )
    assert diff.n[0] == 0


def test_the_last_snapshot_holds_each_customers_segments_in_name_order(audited):
    warehouse, dates, _ = audited
    snapshot = query(
        warehouse,
        "SELECT account, customer_id, segments FROM models.prediction_snapshots WHERE as_of = $as_of",
        {"as_of": dates[-1]},
    )
    members = query(warehouse, "SELECT account, customer_id, segment FROM marts.customer_segments")
    expected = members.groupby(["account", "customer_id"])["segment"].agg(lambda s: sorted(set(s))).to_dict()
    got = {(a, c): list(s) for a, c, s in snapshot.itertuples(index=False)}
    assert {k: v for k, v in got.items() if v} == expected
    assert len({tuple(v) for v in got.values()}) > 3  # several combinations of segments


def test_audit_totals_equal_a_recomputation_from_raw_orders(audited):
    warehouse, dates, _ = audited
    audit = query(warehouse, "SELECT * FROM marts.prediction_audit ORDER BY account, snapshot_as_of, matured_days")
    assert set(audit["snapshot_as_of"].dt.date) == set(dates[:-1])
    # independently: completed orders of the snapshot's customers, one per customer and day
    expected = query(
        warehouse,
        """
        WITH days AS (
            SELECT account, customer_id, CAST(ordered_at AS DATE) AS day, sum(amount) AS amount
            FROM raw.orders WHERE status = 'completed' GROUP BY ALL
        ), snap AS (SELECT DISTINCT account, as_of, customer_id FROM models.prediction_snapshots)
        SELECT a.account, a.snapshot_as_of, a.matured_days,
               count(d.day) AS orders, count(DISTINCT d.customer_id) AS buyers, coalesce(sum(d.amount), 0) AS spend,
               (SELECT count(*) FROM snap s2 WHERE s2.account = a.account AND s2.as_of = a.snapshot_as_of) AS customers
        FROM marts.prediction_audit a
        JOIN snap s ON s.account = a.account AND s.as_of = a.snapshot_as_of
        LEFT JOIN days d ON d.account = s.account AND d.customer_id = s.customer_id
             AND d.day > a.snapshot_as_of AND d.day <= a.snapshot_as_of + a.matured_days
        GROUP BY ALL ORDER BY a.account, a.snapshot_as_of, a.matured_days
        """,
    )
    np.testing.assert_array_equal(audit["actual_orders"], expected["orders"])
    np.testing.assert_array_equal(audit["actual_buyers"], expected["buyers"])
    np.testing.assert_allclose(audit["actual_spend"], expected["spend"], rtol=1e-9)
    np.testing.assert_array_equal(audit["customers"], expected["customers"])
    # each snapshot's checkpoint windows, scored once by the first run on or after their end
    # and kept (default checkpoints 7, 30, 90, 180, 365 with the horizons 30 and 365):
    # T's 7/30 (at T+30), 90 (T+90); T+30's 7/30 (T+60); T+60's 7/30 (T+90)
    assert audit_windows(30, 365) == [(7, 30), (30, 30), (90, 365), (180, 365), (365, 365)]
    expected_windows = {
        (account, snap, days, horizon, min(d for d in dates if d >= snap + timedelta(days=days)))
        for account in (STEADY, HALVED)
        for snap in dates[:-1]
        for days, horizon in audit_windows(30, 365)
        if snap + timedelta(days=days) <= dates[-1]
    }
    scored = set(zip(audit["account"], audit["snapshot_as_of"].dt.date, audit["matured_days"], audit["horizon_days"],
                     audit["as_of"].dt.date, strict=True))
    assert scored == expected_windows
    assert len(audit) == len(expected_windows) == 2 * 7
    assert (audit["predicted_orders_p05"] <= audit["predicted_orders_p95"]).all()


def test_band_rows_add_up_to_the_account(audited):
    warehouse, _, _ = audited
    sums = query(
        warehouse,
        "SELECT d.account, d.snapshot_as_of, d.matured_days, d.group_name, sum(d.customers) AS customers, "
        "sum(d.actual_orders) AS orders, sum(d.predicted_orders) AS predicted, any_value(a.customers) AS all_customers, "
        "any_value(a.actual_orders) AS all_orders, any_value(a.predicted_orders) AS all_predicted "
        "FROM marts.prediction_audit_detail d JOIN marts.prediction_audit a USING (account, snapshot_as_of, matured_days) "
        "WHERE d.group_kind = 'band' GROUP BY ALL",
    )
    np.testing.assert_array_equal(sums["customers"], sums["all_customers"])
    np.testing.assert_array_equal(sums["orders"], sums["all_orders"])
    np.testing.assert_allclose(sums["predicted"], sums["all_predicted"], rtol=1e-9)


def test_drift_check_fails_on_the_halved_account_only(audited):
    _, _, checks = audited
    # T+60: two snapshots scored; both must show the halving; the steady account passes throughout
    assert [c.get(HALVED) for c in checks[2:]] == [False, False]
    assert all(c.get(STEADY) is not False for c in checks)


def test_bi_guide_audit_queries_answer_from_the_serving_copy(audited):
    """The BI guide's audit examples, run by a separate read-only client on the serving copy."""
    from clv_assets.settings import serving_path
    from clv_assets_tests.test_bi_guide import _guide_queries, _run_in_separate_client

    warehouse, _, _ = audited
    queries = [q for q in _guide_queries() if "prediction_audit" in q]
    assert len(queries) == 2
    for query_text, result in zip(queries, _run_in_separate_client(serving_path(warehouse), queries), strict=True):
        assert not result.empty, query_text
        assert set(result.account) == {STEADY, HALVED}


def test_a_rerun_of_the_same_as_of_gives_the_same_tables(audited):
    import pandas as pd

    for table, frame in rerun["before"].items():
        pd.testing.assert_frame_equal(rerun["after"][table], frame, check_exact=False, rtol=1e-9, obj=table)


def test_snapshots_are_scored_on_a_cadence_that_runs_do_not_change():
    from datetime import date

    import pandas as pd

    from clv_assets.defs.audit.assets import scored_cadence

    days = [0, 1, 2, 7, 8, 14, 30, 31]
    dates = pd.Series([date(2026, 1, 1) + timedelta(days=d) for d in days])
    assert [d for d, keep in zip(days, scored_cadence(dates, 7)) if keep] == [0, 7, 14, 30]
    assert scored_cadence(dates, 1).all()
    # the order rows arrive in does not matter
    shuffled = dates.iloc[::-1].reset_index(drop=True)
    assert sorted(shuffled[scored_cadence(shuffled, 7)]) == sorted(dates[scored_cadence(dates, 7)])


@pytest.mark.fast
def test_daily_runs_score_at_most_one_window_a_day_on_the_default_cadence():
    """The audit's cost bound (issue 26): with daily runs, the default checkpoints, horizons
    and weekly cadence, no day matures more than one window (the checkpoints fall on
    distinct days of the week), so a daily run's audit is one window's work at most."""
    from collections import Counter
    from datetime import date

    import pandas as pd

    from clv_assets.defs.audit.assets import AuditConfig, _due_windows, scored_cadence
    from clv_assets.lib.prediction_config import PredictionConfig

    config, horizons = AuditConfig(), PredictionConfig()
    start = date(2026, 1, 1)
    dates = pd.Series([start + timedelta(days=d) for d in range(800)])
    kept = dates[scored_cadence(dates, config.audit_every_days)]
    windows = audit_windows(horizons.purchase_horizon_days, horizons.horizon_days, config.checkpoints)
    maturing = Counter(snap + timedelta(days=days) for snap in kept for days, _ in windows)
    assert max(maturing.values()) == 1
    # and on each day of a steady-state week, the run scores exactly the window maturing that day
    for offset in range(500, 507):
        day = start + timedelta(days=offset)
        snapshots = pd.DataFrame({
            "as_of": list(kept[kept < day]), "run_id": "r", "model": "bgnbd",
            "horizon_days": horizons.horizon_days, "purchase_horizon_days": horizons.purchase_horizon_days,
        })
        scored = pd.DataFrame(
            [{"snapshot_as_of": s, "horizon_days": h, "matured_days": d, "as_of": s + timedelta(days=d)}
             for s in snapshots["as_of"] for d, h in windows if s + timedelta(days=d) < day],
            columns=["snapshot_as_of", "horizon_days", "matured_days", "as_of"],
        )
        due, stale = _due_windows(snapshots, scored, day, config.checkpoints)
        assert stale == []
        assert [snap.as_of + timedelta(days=d) for snap, _, d in due] == [day] * maturing[day]
    assert sum(maturing[start + timedelta(days=o)] for o in range(500, 507)) == len(windows)
