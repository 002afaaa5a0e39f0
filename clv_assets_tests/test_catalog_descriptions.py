"""Every table and column described: in DuckDB's catalog (COMMENT ON, what BI tools read),
in the serving copy, and in each materialisation's Dagster column schema.

The descriptions live in ``sql/<schema>/<table>.columns.yaml``; ``lib/warehouse.py``'s
writers store them. The slow tests run the whole graph (the session's demo accounts, plus
the pooled prior and one account's holdout backtest on a copy of that warehouse) and read
the catalog; the fast ones check the yaml files against the SQL and the writers on a
small real DuckDB file.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from clv_assets.lib.resources import warehouse_resource
from clv_assets.lib.warehouse import replace_account_rows, table_descriptions, transaction

SQL = Path(__file__).resolve().parents[1] / "sql"
TABLE_SCHEMAS = sorted(p.name for p in SQL.iterdir() if p.is_dir() and p.name not in ("queries", "__pycache__"))
# temp tables the writers fill from Python, whose columns a SELECT takes with `*`
PYTHON_COLUMNS = {"history_predictions": "clv_assets.stats.predict:PREDICTION_COLUMNS"}
TINY = "tiny-shop"  # too small to fit, even with the pooled prior, or to backtest
# written only by the pooled prior and the evaluation job, which the account job leaves out
EXTRA_RUN_TABLES = {
    "models.pooled_prior", "models.evaluation", "models.evaluation_calibration",
    "models.evaluation_tracking", "models.evaluation_segments", "models.model_choice",
}


def _tables_with_sql() -> list[str]:
    return sorted(f"{s}.{p.stem}" for s in TABLE_SCHEMAS for p in (SQL / s).glob("*.sql"))


def _yaml(table: str) -> dict:
    schema, name = table.split(".")
    return yaml.safe_load((SQL / schema / f"{name}.columns.yaml").read_text())


def _undescribed(conn: duckdb.DuckDBPyConnection) -> tuple[dict[str, str], list[str]]:
    """(table -> its comment, "table.column" without a comment or with another text than
    the yaml's) for every table of the connection's current database."""
    tables = dict(conn.execute(
        "SELECT schema_name || '.' || table_name, comment FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT internal AND NOT temporary"
    ).fetchall())
    problems = [f"{t} (table)" for t, comment in tables.items() if comment != table_descriptions(t)["table"] or not comment]
    for table, column, comment in conn.execute(
        "SELECT schema_name || '.' || table_name, column_name, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() AND NOT internal ORDER BY 1, column_index"
    ).fetchall():
        if table in tables and (not comment or comment != table_descriptions(table)["columns"].get(column)):
            problems.append(f"{table}.{column}")
    return tables, problems


# --------------------------------------------------------------------------- fast


@pytest.mark.fast
def test_every_table_has_a_description_file_and_every_file_a_table():
    tables = _tables_with_sql()
    assert len(tables) >= 29 and "models.fits" in tables and "serving.published_accounts" in tables
    missing = [t for t in tables if not (SQL / t.split(".")[0] / f"{t.split('.')[1]}.columns.yaml").is_file()]
    assert not missing, f"tables without sql/<schema>/<table>.columns.yaml: {missing}"
    orphans = sorted(
        f"{s}.{p.name.removesuffix('.columns.yaml')}" for s in TABLE_SCHEMAS for p in (SQL / s).glob("*.columns.yaml")
        if not p.with_name(p.name.removesuffix(".columns.yaml") + ".sql").is_file()
    )
    assert not orphans, f"descriptions of tables without a .sql: {orphans}"


@pytest.mark.fast
def test_descriptions_are_complete_and_name_only_columns_the_sql_makes():
    """Each file describes its table and every column it lists, and lists no column its SQL
    does not make: every name is in the SQL file, or taken with `*` from a table (or a
    Python-filled temp table) the SQL reads. A `*` over a temp table whose columns only the
    Python writer knows is left to the whole-graph tests."""
    import importlib

    tables = set(_tables_with_sql())
    problems, checked = [], 0
    for table in sorted(tables):
        docs = _yaml(table)
        if set(docs) != {"table", "columns"} or not isinstance(docs["columns"], dict) or not docs["columns"]:
            problems.append(f"{table}: needs 'table' and a non-empty 'columns' mapping")
            continue
        if len(str(docs["table"] or "").strip()) < 40:
            problems.append(f"{table}: no table description (its meaning and grain)")
        problems += [f"{table}.{c}: empty description" for c, d in docs["columns"].items() if not str(d or "").strip()]
        sql = re.sub(r"--[^\n]*|/\*.*?\*/", " ", (SQL / table.split(".")[0] / f"{table.split('.')[1]}.sql").read_text(), flags=re.S)
        made = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql))
        ctes = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s+AS\s+(?:NOT\s+MATERIALIZED\s+)?\(", sql, flags=re.I))
        starred = _star_sources(sql) - ctes  # a CTE's columns are named in the file
        if starred - tables - set(PYTHON_COLUMNS):
            continue
        for source in starred & tables:
            made |= set(_yaml(source)["columns"])
        for temp in starred & set(PYTHON_COLUMNS):
            module, name = PYTHON_COLUMNS[temp].split(":")
            made |= set(getattr(importlib.import_module(module), name))
        checked += 1
        problems += [f"{table}.{c}: not a column of sql/{table.replace('.', '/')}.sql" for c in docs["columns"] if c not in made]
    assert checked >= 28
    assert not problems, "\n".join(problems)


def _star_sources(sql: str) -> set[str]:
    """The relations a SELECT takes every column of: ``alias.*`` (by the alias's FROM or
    JOIN) and ``SELECT *`` (by the FROM that follows)."""
    sources = set(re.findall(r"\bSELECT\s+\*[^;]*?\bFROM\s+([a-z_][a-z0-9_.]*)", sql, flags=re.I | re.S))
    for alias in re.findall(r"\b([a-z_][a-z0-9_]*)\.\*", sql):
        named = re.findall(rf"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_.]*)\s+(?:AS\s+)?{alias}\b", sql, flags=re.I)
        sources |= set(named) or {alias}
    return sources


@pytest.mark.fast
def test_writes_describe_new_tables_new_columns_and_old_undescribed_tables(tmp_path):
    """replace_account_rows stores the yaml's texts: on creation, for a column added later,
    and on a table created before descriptions existed (or with stale texts)."""
    docs = table_descriptions("features.rfm")
    select = "SELECT $account AS account, 'c1' AS customer_id, 2 AS frequency"
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        with transaction(conn):
            replace_account_rows(conn, "features.rfm", "a", select, {"account": "a"})
        _, problems = _undescribed(conn)
        assert not problems
        with transaction(conn):
            replace_account_rows(conn, "features.rfm", "b", select + ", 3 AS recency", {"account": "b"})
        assert _comments(conn, "rfm") == {c: docs["columns"][c] for c in ("account", "customer_id", "frequency", "recency")}
        # a warehouse from before: no comments, one stale text; the next write of any account fixes both
        conn.execute("CREATE SCHEMA staging")
        conn.execute("CREATE TABLE staging.customer_transactions AS SELECT 'x' AS account, 'c' AS customer_id, 1 AS n_orders")
        conn.execute("COMMENT ON COLUMN staging.customer_transactions.n_orders IS 'stale'")
        with transaction(conn):
            replace_account_rows(conn, "staging.customer_transactions", "a", "SELECT 'a' AS account, 'c' AS customer_id, 2 AS n_orders")
        tables, problems = _undescribed(conn)
        assert not problems and set(tables) == {"features.rfm", "staging.customer_transactions"}
        assert conn.execute("SELECT count(*) FROM staging.customer_transactions").fetchone() == (2,)


def _comments(conn, table_name: str) -> dict:
    return dict(conn.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = $t ORDER BY column_index", {"t": table_name}
    ).fetchall())


# --------------------------------------------------------------------------- whole graph


@pytest.fixture(scope="module")
def described(workspace, tmp_path_factory):
    """A copy of the session's warehouse (3 demo accounts, the whole account job) with what
    the session's runs leave out, added by real Dagster runs on an instance of their own
    (the session's instance sees no extra materialisations): the pooled prior, one
    account's holdout backtest, and a 10-customer account too small to fit, pool or
    backtest (the ineligible paths); then the serving copy of all of them."""
    from clv_assets.definitions import build_defs
    from clv_assets.demo import write_demo_accounts
    from clv_assets.lib.accounts import accounts_partitions
    from clv_assets.lib.keys import ACCOUNT_JOB, EVALUATION, POOLED_PRIOR
    from clv_assets.lib.run_config import account_run_config
    from clv_assets.lib.serving import publish_accounts

    root = tmp_path_factory.mktemp("described")
    with warehouse_resource(workspace.warehouse).get_connection() as conn:
        conn.execute("CHECKPOINT")
        shutil.copyfile(workspace.warehouse, root / "warehouse.duckdb")
    warehouse, landing = root / "warehouse.duckdb", root / "landing"
    shutil.copytree(workspace.landing, landing)
    tiny = write_demo_accounts(root / "tiny", n_accounts=1, n_customers=10, seed=3, end=workspace.as_of)[0]
    shutil.copytree(root / "tiny" / tiny["account"], landing / TINY)
    defs = build_defs(warehouse=warehouse, landing_dir=landing)
    account = workspace.truths[0]["account"]
    backtest = {"ops": {EVALUATION.to_python_identifier(): {"config": {"method": "laplace", "predictive_draws": 100, "candidates": ["bgnbd"]}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(accounts_partitions.name, [account, TINY])
        runs = [dg.materialize(defs.assets, selection=[POOLED_PRIOR], resources=defs.resources, instance=instance)]
        runs += [
            defs.resolve_job_def(ACCOUNT_JOB).execute_in_process(
                instance=instance, partition_key=TINY, run_config=account_run_config(workspace.as_of), raise_on_error=False
            )
        ]
        runs += [
            dg.materialize(
                defs.assets, selection=[EVALUATION], partition_key=a, resources=defs.resources, instance=instance, run_config=backtest
            )
            for a in (account, TINY)
        ]
    assert all(run.success for run in runs)
    with warehouse_resource(warehouse).get_connection() as conn:
        statuses = conn.execute("SELECT DISTINCT status FROM models.fit_status WHERE account = $a", {"a": TINY}).fetchall()
        choice = conn.execute("SELECT reason FROM models.model_choice WHERE account = $a", {"a": TINY}).fetchall()
    assert statuses == [("ineligible",)] and choice[0][0].startswith("not evaluated"), (statuses, choice)
    serving = root / "serving.duckdb"
    publish_accounts(warehouse_resource(warehouse), serving, [t["account"] for t in workspace.truths] + [TINY])
    extra = [event for run in runs for event in run.get_asset_materialization_events()]
    return warehouse, serving, extra


def test_every_warehouse_table_and_column_has_its_description(described):
    warehouse, _, _ = described
    with warehouse_resource(warehouse).get_connection() as conn:
        tables, problems = _undescribed(conn)
    assert EXTRA_RUN_TABLES <= set(tables) and len(tables) >= 28, sorted(tables)
    assert not problems, "no or another comment than sql/<schema>/<table>.columns.yaml's:\n" + "\n".join(problems)


def test_the_serving_copy_keeps_every_description(described):
    """`clv-assets publish` (publish_accounts): a byte copy of the warehouse, the per-account
    copies, the whole-table copy of models.pooled_prior and serving.published_accounts."""
    _, serving, _ = described
    with duckdb.connect(str(serving), read_only=True) as conn:
        tables, problems = _undescribed(conn)
    assert {"serving.published_accounts", "models.pooled_prior"} | EXTRA_RUN_TABLES <= set(tables)
    assert not problems, "\n".join(problems)


def test_every_materialisation_has_a_described_column_schema(workspace, described):
    """The Dagster UI's column schema of every asset's latest materialisation on the
    session's instance (the account job's), and of every materialisation of the added runs
    (the pooled prior, the backtests, the ineligible account's fits and backtest), names
    the table's columns, each with its description. An asset whose table does not exist
    yet, having had nothing to store, has no columns to show."""
    from clv_assets.definitions import build_defs
    from clv_assets.lib.keys import EVALUATION, GAMMA_GAMMA_FIT, POOLED_PRIOR, PURCHASE_MODEL_FIT

    warehouse, _, extra = described
    keys = build_defs(warehouse=warehouse).resolve_asset_graph().get_all_asset_keys()
    added = {event.asset_key for event in extra}
    with dg.DagsterInstance.get() as instance:
        events = [(key, None, instance.get_latest_materialization_event(key)) for key in keys]
    materializations = [
        (key, partition, event.asset_materialization if event else None) for key, partition, event in events
    ] + [(event.asset_key, event.partition, event.materialization) for event in extra]
    # an asset's table: as any of its materialisations names it, else its key (schema/table)
    table_of = {key: ".".join(key.path) for key in keys}
    table_of |= {key: m.metadata["dagster/table_name"].value for key, _, m in materializations if m and "dagster/table_name" in m.metadata}
    problems = []
    with warehouse_resource(warehouse).get_connection() as conn:
        for key, partition, materialization in materializations:
            name = f"{key.to_user_string()}[{partition or 'latest'}]"
            if materialization is None:
                if key not in added:
                    problems.append(f"{name}: never materialised")
                continue
            metadata = materialization.metadata
            schema = metadata.get("dagster/column_schema")
            if schema is None:
                if _comments_of(conn, table_of[key]):
                    problems.append(f"{name}: no dagster/column_schema")
                continue
            table = metadata["dagster/table_name"].value
            columns = {c.name: c.description for c in schema.value.columns}
            stored = _comments_of(conn, table)
            if list(columns) != list(stored):
                problems.append(f"{name}: schema columns {list(columns)} are not {table}'s {list(stored)}")
            problems += [f"{name}.{c}: {d!r}" for c, d in columns.items() if not d or d != stored.get(c)]
    assert len(keys) >= 20
    # the ineligible paths were taken and are among those checked
    ineligible = {e.asset_key for e in extra if e.partition == TINY and e.materialization.metadata.get("status")}
    assert ineligible >= {PURCHASE_MODEL_FIT, GAMMA_GAMMA_FIT, EVALUATION}, ineligible
    assert POOLED_PRIOR in {e.asset_key for e in extra}
    assert not problems, "\n".join(problems)


def _comments_of(conn, table: str) -> dict:
    schema, name = table.split(".")
    return dict(conn.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = $s AND table_name = $t ORDER BY column_index",
        {"s": schema, "t": name},
    ).fetchall())
