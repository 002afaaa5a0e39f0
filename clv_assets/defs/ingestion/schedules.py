"""Daily materialisation of every account, as of the scheduled day."""

import dagster as dg

from clv_assets.lib.accounts import accounts_partitions
from clv_assets.lib.keys import ACCOUNT_JOB
from clv_assets.lib.run_config import account_run_config


@dg.schedule(
    job_name=ACCOUNT_JOB,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_accounts_schedule(context: dg.ScheduleEvaluationContext):
    """One run per account partition, with as-of = the scheduled day.

    ``build_schedule_from_partitioned_job`` does not take dynamic partitions, so the
    schedule enumerates the registered accounts itself; the run key makes a re-evaluated
    tick request nothing twice.
    """
    day = context.scheduled_execution_time.date()
    accounts = context.instance.get_dynamic_partitions(accounts_partitions.name)
    if not accounts:
        return dg.SkipReason("no account partitions registered yet")
    return [
        dg.RunRequest(
            run_key=f"{account}:{day.isoformat()}",
            partition_key=account,
            run_config=account_run_config(day),
            tags={"clv/as_of": day.isoformat()},
        )
        for account in accounts
    ]
