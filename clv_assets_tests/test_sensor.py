"""The landing sensor registers accounts and reacts to changed files only."""

from __future__ import annotations

import os

import dagster as dg

from clv_assets.defs.ingestion.sensors import landing_sensor
from clv_assets.lib.resources import LandingZone


def _tick(instance, landing, cursor):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": LandingZone(root=str(landing))}
    )
    result = landing_sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_sensor_adds_accounts_and_requests_runs_for_changed_files(tmp_path):
    landing = tmp_path / "landing"
    for name in ("shop-a", "shop-b", "Bad Name", "x'; drop table raw.orders; --"):
        (landing / name).mkdir(parents=True)
        (landing / name / "orders.csv").write_text("order_id,customer_id,ordered_at,amount,currency\n")
    with dg.instance_for_test() as instance:
        first = _tick(instance, landing, None)
        assert sorted(first.dynamic_partitions_requests[0].partition_keys) == ["shop-a", "shop-b"]
        assert sorted(r.partition_key for r in first.run_requests) == ["shop-a", "shop-b"]
        assert set(instance.get_dynamic_partitions("accounts")) == {"shop-a", "shop-b"}

        second = _tick(instance, landing, first.cursor)
        assert second.run_requests == [] and second.dynamic_partitions_requests == []

        changed = landing / "shop-b" / "more.csv"
        changed.write_text("order_id,customer_id,ordered_at,amount,currency\n1,c,2025-01-01,1,EUR\n")
        third = _tick(instance, landing, second.cursor)
        assert [r.partition_key for r in third.run_requests] == ["shop-b"]

        os.utime(changed, ns=(1, 1))  # rewritten in place: the mtime changes
        fourth = _tick(instance, landing, third.cursor)
        assert [r.partition_key for r in fourth.run_requests] == ["shop-b"]


def test_sensor_does_not_reload_files_already_materialised(workspace):
    """After `clv-assets materialize`, a first tick (no cursor) requests no run."""
    instance = dg.DagsterInstance.get()
    context = dg.build_sensor_context(
        instance=instance, cursor=None, resources={"landing": LandingZone(root=str(workspace.landing))}
    )
    result = landing_sensor(context)
    # the first demo account's folder is rewritten by other modules' tests (settings files),
    # after which a run is rightly requested: judge the accounts nothing else touches
    untouched = {t["account"] for t in workspace.truths[1:]}
    assert not untouched & {r.partition_key for r in result.run_requests}
