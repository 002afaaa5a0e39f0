"""Publish each account's tables to the serving copy after its run succeeds."""

import dagster as dg

from clv_assets.lib.resources import WarehouseResource
from clv_assets.lib.serving import publish


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def serving_publish_sensor(context: dg.RunStatusSensorContext, duckdb: WarehouseResource):
    """After any successful run of an account partition, copy that account to the serving file.

    It watches run success, not particular assets, so assets added to the graph are
    published without touching this sensor. A failed or unfinished run publishes
    nothing: BI tools keep the account's previous rows. The runs of a backfill are
    published one by one as they finish.
    """
    run = context.dagster_run
    account = run.tags.get("dagster/partition")
    if account is None:
        return dg.SkipReason(f"run {run.run_id[:8]} has no account partition")
    _, serving = publish(duckdb, [account], run_id=run.run_id)
    context.log.info(f"published account {account!r} of run {run.run_id[:8]} to {serving}")
