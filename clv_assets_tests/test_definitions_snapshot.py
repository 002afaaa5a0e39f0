"""The code location's graph, compared with a committed snapshot: a change to the graph
(an asset, a dependency, a check, a job's selection, a schedule or a sensor) shows up in
review as a diff of ``snapshots/definitions.json``.

Regenerate after an intended change: ``CLV_UPDATE_SNAPSHOT=1 pytest clv_assets_tests/test_definitions_snapshot.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from clv_assets.definitions import build_defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
UPDATE_VARIABLE = "CLV_UPDATE_SNAPSHOT"

pytestmark = pytest.mark.fast


def _key(key: dg.AssetKey) -> str:
    return key.to_user_string()


def _check(key: dg.AssetCheckKey) -> str:
    return f"{_key(key.asset_key)}:{key.name}"


def render(defs: dg.Definitions) -> dict:
    """The graph as plain, sorted data (no paths, times or object ids)."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=_key):
        node = graph.get(key)
        policy = node.freshness_policy
        assets[_key(key)] = {
            "deps": sorted(_key(parent) for parent in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": getattr(node.partitions_def, "name", None),
            "checks": sorted(check.name for check in node.check_keys),
            "freshness_fail_window_s": policy.fail_window.to_timedelta().total_seconds() if policy else None,
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__ASSET_JOB"):  # Dagster's implicit job of all assets
            continue
        layer = job.asset_layer
        jobs[job.name] = {
            "assets": sorted(_key(k) for k in layer.selected_asset_keys),
            "checks": sorted(_check(k) for k in layer.asset_graph.asset_check_keys),
            "partitions": getattr(job.partitions_def, "name", None),
            "executor": job.executor_def.name,
            "retries": job.op_retry_policy.max_retries if job.op_retry_policy else 0,
        }
    schedules = {
        schedule.name: {
            "job": schedule.job_name,
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "default_status": schedule.default_status.value,
        }
        for schedule in sorted(defs.schedules or [], key=lambda s: s.name)
    }
    sensors = {
        sensor.name: {
            "type": type(sensor).__name__,
            "jobs": sorted(target.job_name for target in sensor.targets),
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "default_status": sensor.default_status.value,
        }
        for sensor in sorted(defs.sensors or [], key=lambda s: s.name)
    }
    return {
        "assets": assets,
        "asset_checks": sorted(_check(k) for k in graph.asset_check_keys),
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": sorted(defs.resources or {}),
    }


def test_definitions_match_the_committed_snapshot(tmp_path, monkeypatch):
    for variable in ("CLV_MAX_LOAD_AGE_HOURS", "CLV_MAX_PREDICTION_AGE_HOURS"):
        monkeypatch.delenv(variable, raising=False)  # the default freshness windows
    rendered = json.dumps(render(build_defs(tmp_path / "warehouse.duckdb", tmp_path / "landing")), indent=2) + "\n"
    if os.environ.get(UPDATE_VARIABLE) == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(rendered)
    expected = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    assert rendered == expected, (
        f"the definitions differ from {SNAPSHOT.name}; if the change is intended, regenerate it with "
        f"{UPDATE_VARIABLE}=1 pytest {Path(__file__).name} and commit the diff"
    )
