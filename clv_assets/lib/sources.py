"""Where an account's orders come from: the ``source`` key of its settings.

Kinds (a discriminated union on ``kind``, checked with the rest of the settings before
anything loads):

- ``landing``: the account's landing folder of CSV/Parquet files (the default).
- ``table``: a table of a DuckDB database file, or Parquet files by glob, as an ELT tool
  (dlt, Sling, Airbyte) writes them; ``_dlt_*`` and every other unmapped column is ignored.
- ``shopify_export``: Shopify's orders export CSV (one row per line item).
- ``postgres``: a PostgreSQL table or SELECT query, read-only, the connection named by an
  environment variable (libpq conninfo or URL) or a libpq service: never written here.

Every kind is read into the same temp table ``landing_rows`` (text, as sent), so the same
validation SQL and reason codes apply to all. ``columns`` maps contract columns to the
source's own names, e.g. ``{"order_id": "id", "customer_id": "email"}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Annotated, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, model_validator

CONTRACT_COLUMNS = ("order_id", "customer_id", "ordered_at", "amount", "currency", "channel", "status")
REQUIRED = CONTRACT_COLUMNS[:5]
ContractColumn = Literal[CONTRACT_COLUMNS]  # type: ignore[valid-type]
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$"


class SourceError(ValueError):
    """A source that cannot be read as orders; the message names the source and the cause."""


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    columns: dict[ContractColumn, str] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Contract column -> the source's column name (unmapped ones keep the contract name).",
    )

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def resolved(self, base: Path) -> _Source:
        """Relative paths made absolute against ``base`` (the folder of the settings file)."""
        updates = {
            key: str(base / value)
            for key in ("database", "parquet", "path")
            if isinstance(value := getattr(self, key, None), str) and not Path(value).is_absolute()
        }
        return self.model_copy(update=updates)


class _Incremental(BaseModel):
    update_column: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$",
        description="A column that grows when a row is written (updated_at, or ordered_at when rows never "
        "change): each load reads only rows after the last load's maximum minus lookback_hours, and "
        "replaces stored orders by order_id; the newest version of a repeated order_id wins.",
    )
    lookback_hours: float = Field(
        default=0, ge=0, description="Also re-read rows this many hours older than the watermark: set it to the "
        "longest delay between a row's update value and its commit (late writes). Default 0."
    )


class LandingSource(_Source):
    kind: Literal["landing"] = "landing"


class TableSource(_Incremental, _Source):
    kind: Literal["table"]
    database: str | None = Field(default=None, description="A DuckDB database file (opened read-only).")
    table: str | None = Field(default=None, pattern=IDENTIFIER, description="[schema.]table in `database`.")
    parquet: str | None = Field(default=None, description="Parquet files by glob, e.g. 'orders/*.parquet'.")

    @model_validator(mode="after")
    def _one_relation(self) -> TableSource:
        if (self.database is None) == (self.parquet is None) or (self.database is not None) != (self.table is not None):
            raise ValueError("set either 'database' and 'table', or 'parquet'")
        return self


class ShopifyExportSource(_Source):
    kind: Literal["shopify_export"]
    path: str = Field(default="*.csv", description="Export CSV files by glob, relative to the account folder.")


class PostgresSource(_Incremental, _Source):
    kind: Literal["postgres"]
    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                            description="Name of an environment variable holding a libpq conninfo or URL.")
    service: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$", description="A libpq service name.")
    table: str | None = Field(default=None, pattern=IDENTIFIER, description="[schema.]table to read.")
    query: str | None = Field(default=None, description="A SELECT query to read (run by PostgreSQL).")

    @model_validator(mode="after")
    def _one_each(self) -> PostgresSource:
        if (self.env is None) == (self.service is None):
            raise ValueError("set exactly one of 'env' (an environment variable's name) or 'service'")
        if (self.table is None) == (self.query is None):
            raise ValueError("set exactly one of 'table' or 'query'")
        if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.IGNORECASE):
            raise ValueError("'query' must be a SELECT (or WITH ... SELECT) query")
        return self

    @property
    def label(self) -> str:
        where = f"env {self.env}" if self.env else f"service {self.service}"
        return f"postgres source ({where}, {self.table or 'query'})"

    def conninfo(self) -> str:
        if self.service:
            return f"service={self.service}"
        value = os.environ.get(self.env or "", "").strip()
        if not value:
            raise SourceError(f"{self.label}: environment variable {self.env} is not set")
        return value


Source = Annotated[
    LandingSource | TableSource | ShopifyExportSource | PostgresSource, Field(discriminator="kind")
]


def quoted_identifier(name: str) -> str:
    """``a.b`` -> ``"a"."b"`` (names are checked against IDENTIFIER or DESCRIBE first)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def scrubbed(message: str, secret: str) -> str:
    """``message`` without the connection string, any password=... or URL password."""
    message = message.replace(secret, "<connection>") if secret else message
    message = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", message, flags=re.IGNORECASE)
    return re.sub(r"(://[^:/@\s\"]*):[^@\s\"]*@", r"\1:***@", message)


def mapped_rows(mem: duckdb.DuckDBPyConnection, source: _Source, relation: str, label: str, params=None, since=None):
    """The contract columns of ``relation`` as text and ``update_value`` (an Arrow table), or a
    SourceError naming the missing ones; with ``since``, only rows whose update column is after it."""
    params = params or {}
    update = getattr(source, "update_column", None)
    try:
        types = {row[0]: row[1] for row in mem.execute(f"DESCRIBE SELECT * FROM {relation}", params).fetchall()}
    except duckdb.Error as exc:
        raise SourceError(f"{label}: cannot be read ({_first_line(exc)})") from None
    present = list(types)
    missing = [f"{c} (as {source.column(c)!r})" for c in REQUIRED if source.column(c) not in present]
    unknown = [f"{c} (as {source.column(c)!r})" for c in source.columns if source.column(c) not in present]
    unknown += [f"update_column {update!r}"] if update and update not in present else []
    if missing or unknown:
        raise SourceError(
            f"{label}: missing column(s) {', '.join(dict.fromkeys(missing + unknown))}; "
            f"found {', '.join(p for p in present if not p.startswith('_dlt_')) or 'none'}"
        )
    selected = ", ".join(
        f"CAST({quoted_identifier(source.column(c))} AS VARCHAR) AS {c}" if source.column(c) in present
        else f"CAST(NULL AS VARCHAR) AS {c}"
        for c in CONTRACT_COLUMNS
    )
    # source_row is the row's place in the table's scan order (for files, their order), as
    # for landing files: the first valid row of a duplicated order_id is kept; with an update
    # column the rows are ranked newest first, so the newest version of an order is kept
    newest_first = f"ORDER BY {quoted_identifier(update)} DESC" if update else ""
    value = f"TRY_CAST({quoted_identifier(update)} AS TIMESTAMPTZ)" if update else "CAST(NULL AS TIMESTAMPTZ)"
    # a row without a readable update value is read by every load (and rejected if its
    # timestamp is bad): an incremental load never drops it silently
    where = f"WHERE {value} > $since OR {value} IS NULL" if update and since is not None else ""
    if where and types[update].startswith(("TIMESTAMP", "DATE")):
        # a typed column needs no cast, and plain comparisons reach the source (PostgreSQL
        # filters the rows itself): the increment is read, not the whole table
        column = quoted_identifier(update)
        relation = (
            f"(SELECT * FROM {relation} WHERE {column} > $since "
            f"UNION ALL SELECT * FROM {relation} WHERE {column} IS NULL)"
        )
        where = "WHERE true"
    sql = (
        f"SELECT CAST($label AS VARCHAR) AS source_file, "
        f"CAST(row_number() OVER ({newest_first}) AS BIGINT) AS source_row, {selected}, {value} AS update_value "
        f"FROM {relation} {where}"
    )
    try:
        return mem.execute(sql, {"label": label, **params, **({"since": since} if where else {})}).fetch_arrow_table()
    except duckdb.Error as exc:
        raise SourceError(f"{label}: cannot be read ({_first_line(exc)})") from None


@contextmanager
def _opened(source: TableSource | PostgresSource) -> Iterator[tuple[duckdb.DuckDBPyConnection, str, str, dict]]:
    """An in-memory DuckDB with the source attached as ``src``: (connection, label, relation,
    its parameters). Any error is a SourceError naming the source, without a password."""
    secret = source.conninfo() if isinstance(source, PostgresSource) else ""
    mem = duckdb.connect()
    try:
        mem.execute("SET TimeZone = 'UTC'")
        if isinstance(source, PostgresSource):
            from clv_assets.lib.lake import load_extensions

            load_extensions(mem)
            try:
                mem.execute(f"ATTACH {_literal(secret)} AS src (TYPE postgres, READ_ONLY)")
            except duckdb.Error as exc:
                raise SourceError(f"{source.label}: cannot connect ({scrubbed(_first_line(exc), secret)})") from None
            if source.table is not None:
                opened = (mem, source.label, f"src.{quoted_identifier(source.table)}", {})
            else:
                opened = (mem, source.label, "postgres_query('src', $query)", {"query": source.query})
        elif source.parquet is not None:
            opened = (mem, f"table source {source.parquet}", "read_parquet($glob)", {"glob": source.parquet})
        else:
            label = f"table source {source.database}:{source.table}"
            if not Path(source.database).is_file():
                raise SourceError(f"{label}: database file {source.database} does not exist")
            try:
                mem.execute(f"ATTACH {_literal(source.database)} AS src (READ_ONLY)")
            except duckdb.Error as exc:
                raise SourceError(f"{label}: cannot open ({_first_line(exc)})") from None
            opened = (mem, label, f"src.{quoted_identifier(source.table)}", {})
        try:
            yield opened
        except SourceError as exc:
            raise SourceError(scrubbed(str(exc), secret)) from None
        except duckdb.Error as exc:
            raise SourceError(f"{opened[1]}: cannot be read ({scrubbed(_first_line(exc), secret)})") from None
    finally:
        mem.close()


def read_source(source: TableSource | PostgresSource, since=None):
    """The source's rows (all, or with ``since`` those changed after it) as contract text, and its label."""
    with _opened(source) as (mem, label, relation, params):
        return mapped_rows(mem, source, relation, label, params, since), [label]


def watermark_text(value) -> str:
    """A watermark as the sensor and the load's metadata compare it (UTC ISO-8601; '' for none)."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()


def poll_update_value(source: TableSource | PostgresSource):
    """The source's largest update value, by one query (``max`` of the update column; a
    PostgreSQL table or query answers it on the server, where an index on the column helps)."""
    update = quoted_identifier(source.update_column)
    with _opened(source) as (mem, _label, relation, params):
        if isinstance(source, PostgresSource):
            inner = quoted_identifier(source.table) if source.table else f"({source.query}) AS q"
            relation, params = "postgres_query('src', $poll)", {"poll": f"SELECT max({update}) AS m FROM {inner}"}
            update = "m"
        return mem.execute(f"SELECT max({update}) FROM {relation}", params).fetchone()[0]
