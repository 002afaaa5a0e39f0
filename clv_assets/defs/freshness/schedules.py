"""Hourly evaluation of the per-account freshness checks."""

import dagster as dg

from clv_assets.lib.keys import FRESHNESS_CHECKS, FRESHNESS_JOB

account_freshness_job = dg.define_asset_job(
    FRESHNESS_JOB,
    selection=dg.AssetSelection.checks(*FRESHNESS_CHECKS),
    description="Evaluate the per-account freshness checks (no asset is materialised).",
    # two short queries: a process per check would cost more than the checks
    executor_def=dg.in_process_executor,
)

account_freshness_schedule = dg.ScheduleDefinition(
    name="account_freshness_schedule",
    job=account_freshness_job,
    cron_schedule="20 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: which accounts' orders or predictions are older than their limits.",
)
