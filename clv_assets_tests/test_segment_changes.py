"""Segment changes between runs and audience exports, through real runs of the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from clv_assets.cli import main
from clv_assets.demo import write_demo_accounts
from clv_assets.lib.resources import warehouse_resource

ACCOUNT = "shop_a"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One account run as of three dates (the middle one twice); the segment memberships
    of each run are read from marts.customer_segments right after it."""
    root = tmp_path_factory.mktemp("segment_changes")
    env = {
        "CLV_WAREHOUSE": str(root / "warehouse.duckdb"),
        "CLV_LANDING_DIR": str(root / "landing"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        (truth,) = write_demo_accounts(root / "landing", n_accounts=1, n_customers=400, seed=3)
        (root / "landing" / truth["account"]).rename(root / "landing" / ACCOUNT)
        today = datetime.now(UTC).date()
        dates = [today - timedelta(days=120), today - timedelta(days=60), today - timedelta(days=60), today - timedelta(days=30)]
        members, changes = [], []
        for as_of in dates:
            assert main(["materialize", "--as-of", as_of.isoformat(), "--method", "map"]) == 0
            with warehouse_resource(root / "warehouse.duckdb").get_connection() as conn:
                members.append(
                    conn.execute(
                        "SELECT DISTINCT customer_id, segment FROM marts.customer_segments WHERE account = $a", {"a": ACCOUNT}
                    ).df()
                )
                changes.append(conn.execute("SELECT * FROM marts.segment_changes WHERE account = $a", {"a": ACCOUNT}).df())
        yield {"root": root, "dates": dates, "members": members, "changes": changes, "env": env}


def _spells(dates, members) -> set[tuple]:
    """Independent diff: walk the runs in date order (a re-run replaces its date's set)."""
    by_date = dict(zip(dates, members, strict=True))
    ordered = sorted(by_date)
    spells, open_ = set(), {}
    for i, as_of in enumerate(ordered):
        now = set(map(tuple, by_date[as_of][["customer_id", "segment"]].to_numpy()))
        for key in now - set(open_):
            open_[key] = as_of
        for key in set(open_) - now:
            spells.add((*key, open_.pop(key), as_of))
    spells |= {(*key, entered, None) for key, entered in open_.items()}
    return spells


def _as_set(frame: pd.DataFrame) -> set[tuple]:
    return {
        (r.customer_id, r.segment, r.entered_on.date() if hasattr(r.entered_on, "date") else r.entered_on,
         None if pd.isna(r.left_on) else (r.left_on.date() if hasattr(r.left_on, "date") else r.left_on))
        for r in frame.itertuples()
    }


def test_changes_equal_an_independent_diff_of_the_runs(runs):
    dates, members, changes = runs["dates"], runs["members"], runs["changes"]
    first = _as_set(changes[0])
    assert first == _spells(dates[:1], members[:1])  # a first run enters everyone
    assert all(left is None for *_, left in first)
    assert _as_set(changes[-1]) == _spells(dates, members)
    # someone entered and someone left between the runs (the test would be empty otherwise)
    assert any(left is not None for *_, left in _as_set(changes[-1]))


def test_a_rerun_of_the_same_date_changes_nothing(runs):
    assert _as_set(runs["changes"][1]) == _as_set(runs["changes"][2])


def test_export_members_and_changes_from_the_serving_copy(runs, tmp_path, monkeypatch):
    for key, value in runs["env"].items():
        monkeypatch.setenv(key, value)
    spells = _as_set(runs["changes"][-1])
    segment = "purchase_churn_grid"
    members = tmp_path / "members.parquet"
    assert main(["export", "--account", ACCOUNT, "--segment", segment, "--format", "parquet", "--output", str(members)]) == 0
    exported = duckdb.sql(f"SELECT * FROM read_parquet('{members}')").df()
    current = {c for c, s, e, left in spells if s == segment and left is None}
    assert set(exported.customer_id) == current and len(exported) == len(current)
    assert {"p_order", "predicted_spend", "churn_probability", "member_since"} <= set(exported.columns)

    since = runs["dates"][0]
    changed = tmp_path / "changes.csv"
    assert main(["export", "--account", ACCOUNT, "--segment", "at_risk", "--changes-since", since.isoformat(), "--output", str(changed)]) == 0
    rows = pd.read_csv(changed)
    entered = {c for c, s, e, left in spells if s == "at_risk" and left is None and e > since}
    left = {c for c, s, e, lft in spells if s == "at_risk" and lft is not None and lft > since and e <= since}
    assert set(rows.customer_id[rows.change == "enter"]) == entered
    assert set(rows.customer_id[rows.change == "leave"]) == left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "nobody", "--segment", "vip"], "unknown account 'nobody'"),
        (["--account", ACCOUNT, "--segment", "vips"], "unknown segment 'vips'"),
        (["--account", "Bad Name", "--segment", "vip"], "account"),
    ],
)
def test_export_errors_are_one_line(runs, tmp_path, monkeypatch, capsys, args, message):
    for key, value in runs["env"].items():
        monkeypatch.setenv(key, value)
    assert main(["export", *args, "--output", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.csv").exists()
