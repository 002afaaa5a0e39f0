"""The local instance's storage keeps its SQLite connections open and changes nothing
else: what it writes, Dagster's own ``storage: sqlite`` reads back from the same folder
(runs, every event, asset records, check results, dynamic partitions), also of runs
whose files it has closed again; a new run's file, copied from an empty one, has
Dagster's own tables and stamp; an instance file written before (Dagster's default
storage, or the instance folder's absolute path) is rewritten without any path, one the
user edited is kept."""

from __future__ import annotations

import contextlib

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from clv_assets import settings
from clv_assets.lib.instance_storage import KeptOpenSqliteEventLogStorage, KeptOpenSqliteInstance

PARTITIONS = dg.DynamicPartitionsDefinition(name="shops")


@dg.asset(partitions_def=PARTITIONS, check_specs=[dg.AssetCheckSpec("positive", asset="orders")])
def orders(context):
    yield dg.MaterializeResult(metadata={"rows": len(context.partition_key)})
    yield dg.AssetCheckResult(passed=True, check_name="positive")


@dg.asset(partitions_def=PARTITIONS, deps=[orders])
def summary(context) -> None:
    context.log.info(f"summary of {context.partition_key}")


JOB = dg.define_asset_job("shops_job", selection=[orders, summary], partitions_def=PARTITIONS).resolve(
    asset_graph=dg.Definitions(assets=[orders, summary]).resolve_asset_graph()
)


def _run_all(instance: dg.DagsterInstance, shops: list[str]) -> None:
    instance.add_dynamic_partitions(PARTITIONS.name, shops)
    for shop in shops:
        assert JOB.execute_in_process(instance=instance, partition_key=shop).success


def _history(instance: dg.DagsterInstance) -> dict:
    runs = sorted(instance.get_runs(), key=lambda run: run.run_id)
    return {
        "runs": [(run.run_id, run.status, run.tags.get("dagster/partition")) for run in runs],
        "events": {
            run.run_id: [(e.dagster_event_type, e.step_key, e.user_message) for e in instance.all_logs(run.run_id)]
            for run in runs
        },
        "latest": {
            key.to_user_string(): instance.get_latest_materialization_event(key).run_id
            for key in (dg.AssetKey("orders"), dg.AssetKey("summary"))
        },
        "materialized_partitions": sorted(instance.get_materialized_partitions(dg.AssetKey("orders"))),
        "partitions": sorted(instance.get_dynamic_partitions(PARTITIONS.name)),
    }


def test_dagsters_own_sqlite_storage_reads_what_the_kept_open_storage_wrote(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("CLV_DAGSTER_POSTGRES_URL", raising=False)
    settings.ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance, KeptOpenSqliteInstance)
        assert isinstance(instance.event_log_storage, KeptOpenSqliteEventLogStorage)
        shops = [f"shop-{i}" for i in range(KeptOpenSqliteEventLogStorage.OPEN_SHARDS + 2)]
        _run_all(instance, shops)
        written = _history(instance)  # the first runs' files were closed, and are opened again
        # commits wait for no fsync of the WAL (decision 0035): the run index's and the runs' files
        for engine in [*instance.event_log_storage._engines.values(), instance.run_storage._kept_engine]:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert len(written["runs"]) == len(shops) and all(status == dg.DagsterRunStatus.SUCCESS for _, status, _ in written["runs"])
    assert all(any(t == "ASSET_CHECK_EVALUATION" for t, _, _ in events) for events in written["events"].values())

    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # Dagster's default storage
    with dg.DagsterInstance.from_config(str(home)) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert _history(plain) == written
        check = plain.event_log_storage.get_latest_asset_check_execution_by_key([dg.AssetCheckKey(dg.AssetKey("orders"), "positive")])
        assert len(check) == 1


def test_an_instance_file_written_before_is_rewritten_and_a_users_is_kept(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("CLV_DAGSTER_POSTGRES_URL", raising=False)
    config = home / "dagster.yaml"
    before = settings._run_queue_config(settings.usable_cores())  # the file as written until 2026-12-04
    config.write_text(before)
    settings.ensure_dagster_home()
    current = config.read_text()
    assert "class: KeptOpenSqliteInstance" in current and "/" not in current
    # as written until 2026-12-05, in a folder copied from elsewhere (on a 7-core machine):
    # the other folder's path goes, the run concurrency stays
    copied = settings._run_queue_config(7) + f"""storage:
  custom:
    module: clv_assets.lib.instance_storage
    class: KeptOpenSqliteStorage
    config:
      base_dir: "{tmp_path / 'elsewhere' / 'dagster_home'}"
"""
    config.write_text(copied)
    settings.ensure_dagster_home()
    assert config.read_text() == current.replace(f"max_concurrent_runs: {settings.usable_cores()}\n", "max_concurrent_runs: 7\n")
    with dg.DagsterInstance.get() as instance:
        assert instance.get_ref().storage_data.config_dict == {"base_dir": str(home)}
    assert not (tmp_path / "elsewhere").exists()
    edited = before + "run_monitoring:\n  enabled: true\n"
    config.write_text(edited)
    settings.ensure_dagster_home()
    assert config.read_text() == edited


def _shape(path) -> tuple:
    """A SQLite file's schema, alembic stamp and journal mode."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        schema = sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=str)
        return schema, conn.execute("SELECT * FROM alembic_version").fetchall(), conn.execute("PRAGMA journal_mode").fetchone()


def test_a_new_runs_file_is_a_copy_with_dagsters_own_tables_and_stamp(tmp_path):
    kept = KeptOpenSqliteEventLogStorage(str(tmp_path / "kept"))
    plain = SqliteEventLogStorage(str(tmp_path / "plain"))
    with kept.run_connection("run-a"), plain.run_connection("run-a"):  # each creates the run's file
        pass
    assert kept._empty_shard is not None  # created by copying, not by Dagster's create_all and stamp
    assert _shape(kept.path_for_shard("run-a")) == _shape(plain.path_for_shard("run-a"))
    assert _shape(kept.path_for_shard("run-a"))[2] == ("wal",)
    # a file that exists already (another process made it) is never overwritten
    assert not kept._copy_empty_shard("run-a")
    assert not list((tmp_path / "kept").glob("*.partial"))
    kept.dispose()
    plain.dispose()
