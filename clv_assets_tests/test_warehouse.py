"""Idempotent partition writes on a real DuckDB file."""

from __future__ import annotations

import duckdb
import pytest

from clv_assets.lib.warehouse import _reads_table, replace_account_rows, transaction

pytestmark = pytest.mark.fast

ROWS = "SELECT $account AS account, CASE WHEN i % 5 = 0 THEN 'a' ELSE 'b' END AS f, i FROM range($n) t(i)"


def _counts(conn, account):
    return dict(conn.execute("SELECT f, count(*) FROM s.t WHERE account = $a GROUP BY f", {"a": account}).fetchall())


def test_first_write_of_a_large_partition_is_visible_to_grouped_queries(tmp_path):
    # DuckDB 2.0.0 returned no groups here when the table was created empty and
    # filled within one transaction (1.5.5, pinned for the DuckLake wheels, does not)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        with transaction(conn):
            replace_account_rows(conn, "s.t", "acme", ROWS, {"account": "acme", "n": 400_000})
        assert _counts(conn, "acme") == {"a": 80_000, "b": 320_000}


def test_rewrite_replaces_only_its_account_and_never_duplicates(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        for account, n in [("acme", 10), ("blue", 7), ("acme", 5), ("acme", 5)]:
            with transaction(conn):
                replace_account_rows(conn, "s.t", account, ROWS, {"account": account, "n": n})
        assert _counts(conn, "acme") == {"a": 1, "b": 4}
        assert _counts(conn, "blue") == {"a": 2, "b": 5}


def test_failed_write_leaves_previous_rows(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        with transaction(conn):
            replace_account_rows(conn, "s.t", "acme", ROWS, {"account": "acme", "n": 10})
        with pytest.raises(duckdb.Error), transaction(conn):
            replace_account_rows(conn, "s.t", "acme", ROWS, {"account": "acme", "n": 3})
            conn.execute("SELECT * FROM no_such_table")  # fails after the delete + insert
        assert _counts(conn, "acme") == {"a": 2, "b": 8}


def test_new_columns_are_added_not_renamed(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        with transaction(conn):
            replace_account_rows(conn, "s.t", "acme", ROWS, {"account": "acme", "n": 4})
        with transaction(conn):
            replace_account_rows(conn, "s.t", "blue", ROWS.replace(" i FROM", " i, i * 2 AS j FROM"), {"account": "blue", "n": 4})
        columns = [r[0] for r in conn.execute("DESCRIBE s.t").fetchall()]
        assert columns == ["account", "f", "i", "j"]
        assert conn.execute("SELECT count(*) FROM s.t WHERE j IS NULL").fetchone()[0] == 4


def test_replacement_may_read_the_table_it_replaces(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("CREATE SCHEMA features")
    conn.execute("CREATE TABLE features.t AS SELECT 'a' AS account, range AS i FROM range(3)")
    with transaction(conn):
        # the query sees the account's rows as they were before the replacement
        rows = replace_account_rows(
            conn, "features.t", "a", "SELECT account, i * 10 AS i FROM features.t WHERE account = $account", {"account": "a"}
        )
    assert rows == 3
    assert conn.execute("SELECT list(i ORDER BY i) FROM features.t").fetchone()[0] == [0, 10, 20]


def test_replacement_reading_its_table_is_seen_past_comments_and_strings(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("CREATE SCHEMA features")
    conn.execute("CREATE TABLE features.t AS SELECT 'a' AS account, range AS i FROM range(3)")
    # a comment with a quote and a string with dashes must not hide the real read
    sql = "-- features.t: it's rebuilt\nSELECT account, i + 1 AS i, '--' AS note FROM features.t WHERE account = $account"
    with transaction(conn):
        replace_account_rows(conn, "features.t", "a", sql, {"account": "a"})
    assert conn.execute("SELECT list(i ORDER BY i) FROM features.t").fetchone()[0] == [1, 2, 3]


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        ("-- features.t: the header comment of sql/features/t.sql\nSELECT 1 AS i", False),
        ("/* features.t */ SELECT 'features.t' AS name", False),
        ("SELECT '-- it''s' AS s FROM features.t", True),
        ('SELECT 1 FROM other."features.t"', False),
    ],
)
def test_only_code_reads_a_table(sql, reads):
    # a query that does not read its table goes straight in; one set aside is copied first,
    # which cost seconds per table at a million customers when header comments counted
    assert _reads_table(sql, "features.t") is reads


def test_replacement_without_parameters(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("CREATE SCHEMA features")
    conn.execute("CREATE TABLE features.t AS SELECT 'a' AS account, 1 AS i")
    with transaction(conn):
        assert replace_account_rows(conn, "features.t", "a", "SELECT 'a' AS account, 2 AS i") == 1
    assert conn.execute("SELECT i FROM features.t").fetchall() == [(2,)]


def test_preview_is_a_markdown_table_of_the_accounts_first_rows(tmp_path):
    """The preview a write attaches to its materialisation: the account's rows only, NULL
    as an empty cell, a '|' in a value escaped so that it stays one cell; and a table name
    that is not a plain name never reaches the catalog query."""
    from clv_assets.lib.warehouse import partition_metadata, table_exists

    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("CREATE SCHEMA marts")
    conn.execute(
        "CREATE TABLE marts.t AS SELECT * FROM (VALUES ('a', 1, 'x|y'), ('a', 2, NULL), ('b', 3, 'z')) AS v(account, n, note)"
    )
    preview = partition_metadata(conn, "marts.t", "a")["preview"].value
    assert preview.splitlines() == ["| account | n | note |", "|---|---|---|", "| a | 1 | x\\|y |", "| a | 2 |  |"]
    assert table_exists(conn, "marts.t") and not table_exists(conn, "marts.missing")
    with pytest.raises(ValueError):
        table_exists(conn, "marts.t' OR true --")
