"""DuckDB helpers: SQL files, idempotent per-account writes and materialisation metadata.

Every table has an ``account`` column. A partition is replaced in one transaction
(delete the account's rows, insert the new ones), so a re-run never duplicates rows and
a run that fails halfway leaves the previously stored rows in place.

Every table is described in ``sql/<schema>/<table>.columns.yaml``; the writers here store
those descriptions as the table's and columns' comments (DuckDB's catalog, read by BI
tools) whenever the stored ones differ, so no writer can leave a table undescribed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, NamedTuple

import dagster as dg
import duckdb
import yaml

from clv_assets.lib.lake import lake_catalog_of, lake_write_lock, lock_timeout_seconds

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")
_PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")


def _is_table(schema: str, name: str) -> str:
    """The ``duckdb_tables()`` condition for table ``schema.name`` of the current database
    (or temp table ``name`` when the schema is main). The names come from code and are
    checked plain names, written as literals: a bound catalog query costs 1.6 ms where
    this one costs 0.7, and an account's run makes some fifty of them."""
    schema, name = _checked_name(schema), _checked_name(name)
    return (
        f"table_name = '{name}' AND (schema_name = '{schema}' OR (temporary AND '{schema}' = 'main'))"
        " AND (temporary OR database_name = current_database())"
    )


_QUERIES = "queries"


def sql_file(*parts: str) -> Traversable:
    """A file of the repository's sql/ folder, installed as the package ``clv_assets.sql``.

    Read through importlib.resources so that an installed wheel finds the files as well
    as an editable install or a checkout.
    """
    return files("clv_assets.sql").joinpath(*parts)


def read_sql(table: str) -> str:
    """The SELECT that builds ``schema.table``, from ``sql/<schema>/<table>.sql``."""
    schema, name = _checked_identifier(table).split(".")
    if schema == _QUERIES:
        raise ValueError(f"sql/{_QUERIES}/ holds lookup queries, not tables: use read_query({name!r})")
    return sql_file(schema, f"{name}.sql").read_text()


def read_query(name: str) -> str:
    """A lookup query that builds no table, from ``sql/queries/<name>.sql``."""
    return sql_file(_QUERIES, f"{_checked_name(name)}.sql").read_text()


def run_sql(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` binding only the ``$name`` parameters it uses (DuckDB rejects extras)."""
    used = set(_PARAMETER.findall(sql))
    return conn.execute(sql, {k: v for k, v in (params or {}).items() if k in used})


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit on success, roll back on any error.

    On a DuckLake the transaction holds the lake's write lock (``lib/lake.py``): DuckLake
    would abort one of two concurrent writers of a table at commit.
    """
    catalog = lake_catalog_of(conn)
    with lake_write_lock(catalog, lock_timeout_seconds()) if catalog else nullcontext():
        conn.execute("BEGIN TRANSACTION")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def replace_account_rows(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    account: str,
    select_sql: str,
    params: Mapping[str, Any] | None = None,
    scope: Mapping[str, Any] | None = None,
) -> int:
    """Replace ``account``'s rows of ``table`` with the result of ``select_sql``.

    ``scope`` narrows the replaced rows further (e.g. ``{"model": "gamma_gamma"}`` when
    several assets share a table; a collection value matches any of its members). Call inside :func:`transaction`. The table is created from the query's columns on
    first use; columns the query adds later are added to the table (never dropped or
    renamed), so a new column is not a migration. The table's descriptions are stored
    where the catalog's comments differ from them (:func:`apply_descriptions`): on
    creation, for a new column, on a table from before the descriptions, after a yaml
    edit; otherwise nothing is written (the catalog reads replace the existence check and
    the DESCRIBE a write needs anyway: about 2 ms more, nothing beside a 1M-row write).
    """
    table = _checked_identifier(table)
    schema = table.split(".")[0]
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    stored = _stored_comments(conn, table)
    if stored is None:
        # Create with the rows: DuckDB 2.0.0 loses them from filtered GROUP BY queries
        # when an empty table is created, deleted from and inserted into in one
        # transaction. The pinned 1.5.5 does not (checked 2026-11-29); kept so that an
        # upgrade to 2.0 stays safe (test_warehouse.py guards the case).
        run_sql(conn, f"CREATE TABLE {table} AS {select_sql}", params)
        apply_descriptions(conn, table)
        (rows,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return rows
    # The rows go straight into the table, never through an intermediate copy, which at
    # a million customers costs seconds per table; a query that reads the table itself
    # must see it before the delete, so its rows are set aside first.
    set_aside = _reads_table(select_sql, table)
    source, source_params = select_sql, params
    if set_aside:
        run_sql(conn, f"CREATE OR REPLACE TEMP TABLE _incoming AS {select_sql}", params)
        source, source_params = "SELECT * FROM _incoming", None
    # the query's columns from its plan (nothing runs)
    for name, dtype in column_types(conn, source, source_params).items():
        if name not in stored.columns:
            conn.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {dtype}')
            stored.columns[name] = None
    _describe(conn, table, stored)
    where = {"account": account, **(scope or {})}
    for column in where:
        _checked_name(column)
    where = {c: list(v) if isinstance(v, tuple | list | set | frozenset) else v for c, v in where.items()}
    conn.execute(
        f"DELETE FROM {table} WHERE "
        + " AND ".join(f"list_contains(${c}, {c})" if isinstance(v, list) else f"{c} = ${c}" for c, v in where.items()),
        where,
    )
    (rows,) = run_sql(conn, f"INSERT INTO {table} BY NAME {source}", source_params).fetchone()
    if set_aside:
        conn.execute("DROP TABLE _incoming")
    return rows


def replace_table(
    conn: duckdb.DuckDBPyConnection, table: str, select_sql: str, params: Mapping[str, Any] | None = None
) -> None:
    """Replace the whole of ``table`` (one not split by account) with ``select_sql``'s rows, described."""
    table = _checked_identifier(table)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    run_sql(conn, f"CREATE OR REPLACE TABLE {table} AS {select_sql}", params)
    apply_descriptions(conn, table)


# string literals ('' escapes a quote), line comments, block comments; scanned left to right,
# so a quote inside a comment or dashes inside a string are taken for what they are in
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)


def _reads_table(sql: str, table: str) -> bool:
    """Whether ``sql`` names ``table`` of the current catalog (not ``"other".table``)."""
    # comments and string literals do not read: every file's header comment names its table
    code = _NOT_CODE.sub(" ", sql)
    return re.search(rf'(?<![\w."]){re.escape(table)}\b', code) is not None


def apply_descriptions(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Store ``sql/<schema>/<table>.columns.yaml``'s descriptions (if any) as table and column comments.

    BI tools read them from DuckDB's catalog (``duckdb_tables()``, ``duckdb_columns()``).
    Only the comments that differ from the yaml are written: on a described table this is
    one catalog query.
    """
    stored = _stored_comments(conn, _checked_identifier(table))
    if stored is not None:
        _describe(conn, table, stored)


class _Comments(NamedTuple):
    table: str | None
    columns: dict[str, str | None]  # every column of the table, in order, with its comment


def _stored_comments(conn: duckdb.DuckDBPyConnection, table: str) -> _Comments | None:
    """The table's comment and its columns' comments, or None if it does not exist (the
    table as :func:`table_exists` finds it). Two catalog queries, which cost what that
    check and a DESCRIBE cost (a join of the two catalog functions costs twice as much)."""
    schema, name = table.split(".")
    found = conn.execute(
        f"SELECT comment, database_oid, table_oid FROM duckdb_tables() WHERE {_is_table(schema, name)}"
    ).fetchall()
    if not found:
        return None
    comment, database_oid, table_oid = found[0]
    columns = conn.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE database_oid = $d AND table_oid = $t ORDER BY column_index",
        {"d": database_oid, "t": table_oid},
    ).fetchall()
    return _Comments(comment, dict(columns))


def _describe(conn: duckdb.DuckDBPyConnection, table: str, stored: _Comments) -> None:
    """COMMENT ON the table and each of its ``stored.columns`` whose comment is not the yaml's.

    COMMENT ON takes no parameters; the texts come from the repository, quoted here.
    """
    docs = _descriptions(table)
    if docs["table"] is not None and stored.table != docs["table"]:
        conn.execute(f"COMMENT ON TABLE {table} IS {_sql_string(docs['table'])}")
    for column, comment in stored.columns.items():
        text = docs["columns"].get(column)
        if text is not None and comment != text:
            conn.execute(f'COMMENT ON COLUMN {table}."{column}" IS {_sql_string(text)}')


def table_descriptions(table: str) -> dict:
    """``sql/<schema>/<table>.columns.yaml`` ({"table": ..., "columns": {...}}), or empty."""
    docs = _descriptions(_checked_identifier(table))
    return {"table": docs["table"], "columns": dict(docs["columns"])}


@cache
def _descriptions(table: str) -> dict:
    """The yaml read once per process: it ships with the code, and every write consults it."""
    schema, name = table.split(".")
    path = sql_file(schema, f"{name}.columns.yaml")
    docs = yaml.safe_load(path.read_text()) if path.is_file() else {}
    return {"table": docs.get("table"), "columns": {str(k): str(v) for k, v in (docs.get("columns") or {}).items()}}


def _sql_string(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` exists in the connection's current database (or as a temp table)."""
    schema, name = table.split(".") if "." in table else ("main", table)
    # fetchall, not fetchone: DuckDB 2 refuses conn.register() while a result is unfinished
    return conn.execute(f"SELECT count(*) FROM duckdb_tables() WHERE {_is_table(schema, name)}").fetchall()[0][0] > 0


def column_types(
    conn: duckdb.DuckDBPyConnection, relation: str, params: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Column name -> type of a table, or of a query (planned, not run)."""
    rows = run_sql(conn, f"DESCRIBE {relation}", params).fetchall()
    return {row[0]: row[1] for row in rows}


def partition_metadata(
    conn: duckdb.DuckDBPyConnection, table: str, account: str | None, preview_rows: int = 5
) -> dict[str, Any]:
    """Row count, column schema (:func:`column_schema_metadata`) and a small preview of
    ``account``'s rows of ``table``; with ``account`` None, of the whole table (an asset
    not partitioned by account)."""
    table = _checked_identifier(table)
    where, params = ("WHERE account = $account", {"account": account}) if account is not None else ("", {})
    (rows,) = conn.execute(f"SELECT count(*) FROM {table} {where}", params).fetchone()
    result = conn.execute(f"SELECT * FROM {table} {where} LIMIT {int(preview_rows)}", params)
    preview = markdown_table([column[0] for column in result.description], result.fetchall())
    return {
        "dagster/row_count": dg.MetadataValue.int(int(rows)),
        **column_schema_metadata(conn, table),
        "preview": dg.MetadataValue.md(preview),
    }


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table of ``rows`` under ``columns``, values as ``str`` (NULL empty).

    Written here rather than by pandas' ``to_markdown``: a data frame and tabulate cost
    5 ms per preview, and every table a run writes makes one (about 0.1 s of a small
    account's run)."""

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def column_schema_metadata(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    """The Dagster UI's column schema of ``table``, each column with its yaml description,
    and the table's name; empty while the table does not exist."""
    table = _checked_identifier(table)
    if not table_exists(conn, table):
        return {}
    described = _descriptions(table)["columns"]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name, dtype, description=described.get(name))
            for name, dtype in column_types(conn, table).items()
        ]
    )
    return {"dagster/column_schema": schema, "dagster/table_name": dg.MetadataValue.text(table)}


def _checked_name(name: str) -> str:
    """A column or query name: a plain lower-case SQL name."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a plain lower-case name: {name!r}")
    return name


def _checked_identifier(table: str) -> str:
    """Table names come from code, never from users; refuse anything else all the same."""
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"not a schema-qualified table name: {table!r}")
    return table
