"""Landing files -> raw.orders / raw.rejected_orders, through real materialisations."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from clv_assets.cli import main

HANDMADE_ACCOUNT = "handmade-shop"

# One row per validation rule, plus valid rows; `expected_reason` is not a contract
# column, so the loader ignores it and the test can read what each row should become.
HANDMADE_CSV = """order_id,customer_id,ordered_at,amount,currency,channel,status,expected_reason
o1,c1,2025-01-05T10:00:00,10.00,EUR,email,completed,
o2,c1,2025-03-01T01:00:00+02:00,20.50,eur,SMS,,
o3,c2,2025-02-01,5,EUR,,cancelled,
o4,,2025-02-01T00:00:00,5,EUR,email,completed,missing_customer_id
,c3,2025-02-01T00:00:00,5,EUR,email,completed,missing_order_id
o1,c1,2025-01-06T10:00:00,10.00,EUR,email,completed,duplicate_order_id
o5,c3,,5,EUR,email,completed,missing_timestamp
o6,c3,yesterday,5,EUR,email,completed,unparseable_timestamp
o7,c3,2025-02-30T00:00:00,5,EUR,email,completed,unparseable_timestamp
o8,c3,2999-01-01T00:00:00,5,EUR,email,completed,future_timestamp
o9,c3,2025-02-01T00:00:00,,EUR,email,completed,missing_amount
o10,c3,2025-02-01T00:00:00,12;50,EUR,email,completed,non_numeric_amount
o11,c3,2025-02-01T00:00:00,nan,EUR,email,completed,non_numeric_amount
o12,c3,2025-02-01T00:00:00,-3,EUR,email,completed,negative_amount
o13,c3,2025-02-01T00:00:00,5,USD,email,completed,currency_mismatch
o14,c3,2025-02-01T00:00:00,5,euro,email,completed,invalid_currency
o15,c3,2025-02-01T00:00:00,5,,email,completed,missing_currency
o16,c3,2025-02-01T00:00:00,5,EUR,email,pending,unknown_status
o17,c3,2025-02-01T00:00:00,5,EUR,email,completed,
"""


@pytest.fixture(scope="module")
def handmade(workspace):
    folder = workspace.landing / HANDMADE_ACCOUNT
    folder.mkdir()
    (folder / "orders.csv").write_text(HANDMADE_CSV)
    assert main(["materialize", "--account", HANDMADE_ACCOUNT, "--as-of", "2025-06-30"]) == 0
    yield folder
    shutil.rmtree(folder)


def _landed_rows(folder) -> int:
    """Rows in the account's files, counted with pandas, independently of the loader."""
    total = 0
    for path in folder.iterdir():
        if path.suffix == ".csv":
            total += len(pd.read_csv(path, dtype=str, keep_default_na=False))
        elif path.suffix == ".parquet":
            total += len(pd.read_parquet(path))
    return total


def test_warehouse_holds_every_account(workspace):
    accounts = {t["account"] for t in workspace.truths}
    assert len(accounts) >= 3
    for table in ("raw.orders", "raw.rejected_orders", "staging.customer_transactions", "features.rfm"):
        stored = set(workspace.query(f"SELECT DISTINCT account FROM {table}").account)
        assert accounts <= stored, table


def test_every_landed_row_is_kept_or_rejected(workspace):
    for truth in workspace.truths:
        account = truth["account"]
        landed = _landed_rows(workspace.landing / account)
        kept = workspace.count("raw.orders", account)
        rejected = workspace.count("raw.rejected_orders", account)
        assert landed == kept + rejected, account
        assert rejected > 0


def test_demo_bad_rows_rejected_with_their_reasons(workspace):
    for truth in workspace.truths:
        got = workspace.query(
            "SELECT reason, count(*) AS n FROM raw.rejected_orders WHERE account = $a GROUP BY reason",
            {"a": truth["account"]},
        )
        assert dict(zip(got.reason, got.n, strict=True)) == truth["bad_rows"]


def test_each_bad_row_kind_rejected_with_its_reason(workspace, handmade):
    expected = pd.read_csv(handmade / "orders.csv", dtype=str, keep_default_na=False)
    expected["source_row"] = range(1, len(expected) + 1)
    rejected = workspace.query(
        "SELECT source_row, reason FROM raw.rejected_orders WHERE account = $a", {"a": HANDMADE_ACCOUNT}
    )
    want = expected[expected.expected_reason != ""].set_index("source_row").expected_reason
    got = rejected.set_index("source_row").reason.sort_index()
    pd.testing.assert_series_equal(got, want.rename("reason").sort_index(), check_names=False)
    kept = workspace.query(
        "SELECT order_id FROM raw.orders WHERE account = $a ORDER BY order_id", {"a": HANDMADE_ACCOUNT}
    )
    assert sorted(kept.order_id) == sorted(expected[expected.expected_reason == ""].order_id)


def test_values_are_typed_and_normalised(workspace, handmade):
    rows = workspace.query(
        "SELECT order_id, ordered_at, order_date, amount, currency, channel, status "
        "FROM raw.orders WHERE account = $a",
        {"a": HANDMADE_ACCOUNT},
    ).set_index("order_id")
    # an explicit offset is converted to UTC, which moves this order to the previous day
    assert str(rows.loc["o2", "ordered_at"]) == "2025-02-28 23:00:00"
    assert pd.Timestamp(rows.loc["o2", "order_date"]).date().isoformat() == "2025-02-28"
    assert rows.loc["o2", "currency"] == "EUR"
    assert rows.loc["o2", "channel"] == "sms"
    assert rows.loc["o2", "status"] == "completed"  # missing status means completed
    assert rows.loc["o3", "channel"] == "unknown"
    assert float(rows.loc["o2", "amount"]) == 20.5


def test_malformed_file_fails_the_run_and_keeps_stored_rows(workspace, handmade, capsys):
    before = {t: workspace.count(t, HANDMADE_ACCOUNT) for t in ("raw.orders", "raw.rejected_orders", "features.rfm")}
    for name, content in [
        ("notes.txt", "not orders"),
        ("broken.csv", "order_id,customer\n1,2\n"),
    ]:
        bad = handmade / name
        bad.write_text(content)
        try:
            capsys.readouterr()
            assert main(["materialize", "--account", HANDMADE_ACCOUNT, "--as-of", "2025-06-30"]) == 1
            out = capsys.readouterr().out
            assert name in out and "FAILED" in out
            assert "Traceback" not in out
        finally:
            bad.unlink()
        after = {t: workspace.count(t, HANDMADE_ACCOUNT) for t in before}
        assert after == before


def test_undecodable_file_fails_in_one_line_naming_file_and_cause(workspace, handmade, capsys):
    """A latin-1 export (the usual spreadsheet default) fails the account in one line that
    names the file and says it is not UTF-8; stored rows stay as they were."""
    before = {t: workspace.count(t, HANDMADE_ACCOUNT) for t in ("raw.orders", "raw.rejected_orders", "features.rfm")}
    bad = handmade / "latin1_export.csv"
    bad.write_bytes("order_id,customer_id,ordered_at,amount,currency\nx1,Fran\u00e7ois,2025-02-01,5,EUR\n".encode("latin-1"))
    try:
        capsys.readouterr()
        assert main(["materialize", "--account", HANDMADE_ACCOUNT, "--as-of", "2025-06-30"]) == 1
        out = capsys.readouterr().out
    finally:
        bad.unlink()
    # the account's own line (a freshness check may fail too, for other test modules' accounts)
    (failure,) = [line for line in out.splitlines() if "FAILED" in line and HANDMADE_ACCOUNT in line]
    assert "latin1_export.csv" in failure and "not UTF-8" in failure and "line 2" in failure
    assert "Traceback" not in out
    assert {t: workspace.count(t, HANDMADE_ACCOUNT) for t in before} == before


def test_sql_injection_in_folder_name_is_refused(workspace, capsys):
    evil = workspace.landing / "x'; drop table raw.orders; --"
    evil.mkdir()
    try:
        shutil.copy(next((workspace.landing / workspace.truths[0]["account"]).glob("*.csv")), evil / "o.csv")
        orders_before = workspace.count("raw.orders")
        capsys.readouterr()
        assert main(["materialize", "--account", workspace.truths[0]["account"], "--as-of", workspace.as_of.isoformat()]) == 0
        assert "not a valid account name" in capsys.readouterr().err
        assert main(["materialize", "--account", evil.name]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "invalid account name" in err[0]
        assert workspace.count("raw.orders") == orders_before
        import dagster as dg

        partitions = dg.DagsterInstance.get().get_dynamic_partitions("accounts")
        assert evil.name not in partitions
    finally:
        shutil.rmtree(evil)


def test_configured_currency_overrides_the_most_common_one(workspace):
    folder = workspace.landing / "usd-shop"
    folder.mkdir()
    (folder / "_account.json").write_text('{"currency": "USD"}')
    (folder / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,amount,currency\n"
        "1,c1,2025-01-01,5,EUR\n2,c1,2025-01-02,5,EUR\n3,c2,2025-01-03,5,USD\n"
    )
    try:
        assert main(["materialize", "--account", "usd-shop", "--as-of", "2025-06-30"]) == 0
    finally:
        shutil.rmtree(folder)
    rejected = workspace.query("SELECT order_id, reason FROM raw.rejected_orders WHERE account = 'usd-shop' ORDER BY 1")
    assert list(rejected.order_id) == ["1", "2"] and set(rejected.reason) == {"currency_mismatch"}
    assert list(workspace.query("SELECT order_id FROM raw.orders WHERE account = 'usd-shop'").order_id) == ["3"]
