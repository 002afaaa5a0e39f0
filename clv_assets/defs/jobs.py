"""Jobs and the run configuration every trigger (CLI, sensor, schedule) shares."""

from __future__ import annotations

from datetime import date

import dagster as dg

from clv_assets.defs.freshness.checks import FRESHNESS_CHECKS
from clv_assets.lib.accounts import accounts_partitions

ACCOUNT_JOB = "clv_account_job"

clv_account_job = dg.define_asset_job(
    ACCOUNT_JOB,
    # the freshness checks judge every account at once: they have a job of their own
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(*FRESHNESS_CHECKS),
    partitions_def=accounts_partitions,
    description="Materialise the whole graph for one account partition.",
)


def account_run_config(as_of: date | None = None) -> dict:
    """Run config of :data:`clv_account_job`; ``as_of`` None means today (UTC)."""
    as_of_config = {"as_of": as_of.isoformat()} if as_of else {}
    return {"ops": {"features__rfm": {"config": as_of_config}}}
