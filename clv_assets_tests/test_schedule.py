"""The daily schedule requests one run per registered account, as of the scheduled day."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from clv_assets.defs.ingestion.schedules import daily_accounts_schedule

pytestmark = pytest.mark.fast


def test_daily_schedule_runs_every_account_as_of_the_scheduled_day():
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 3, 4, 3, tzinfo=UTC))
        assert isinstance(daily_accounts_schedule(context), dg.SkipReason)
        instance.add_dynamic_partitions("accounts", ["shop-a", "shop-b"])
        requests = daily_accounts_schedule(context)
        assert sorted(r.partition_key for r in requests) == ["shop-a", "shop-b"]
        for request in requests:
            assert request.run_config["ops"]["features__rfm"]["config"]["as_of"] == "2026-03-04"
            assert request.run_key.endswith("2026-03-04")
