"""Jobs and the run configuration every trigger (CLI, sensor, schedule) shares."""

from __future__ import annotations

from datetime import date

import dagster as dg

from clv_assets.defs.freshness.checks import FRESHNESS_CHECKS
from clv_assets.lib.accounts import accounts_partitions

ACCOUNT_JOB = "clv_account_job"
EVALUATION_JOB = "clv_evaluation_job"
# Backtests refit every candidate model: on demand, not on every load or daily run.
EVALUATION = dg.AssetSelection.assets(dg.AssetKey(["models", "evaluation"]))

clv_account_job = dg.define_asset_job(
    ACCOUNT_JOB,
    # the freshness checks judge every account at once and the holdout evaluation refits
    # every candidate: each has a job of its own
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(*FRESHNESS_CHECKS) - EVALUATION,
    partitions_def=accounts_partitions,
    description="Materialise the whole graph (except the holdout evaluation) for one account partition.",
)

clv_evaluation_job = dg.define_asset_job(
    EVALUATION_JOB,
    selection=EVALUATION,
    partitions_def=accounts_partitions,
    description="Holdout backtest of the candidate models and the model choice for one account partition.",
)


def account_run_config(as_of: date | None = None) -> dict:
    """Run config of :data:`clv_account_job`; ``as_of`` None means today (UTC)."""
    as_of_config = {"as_of": as_of.isoformat()} if as_of else {}
    return {"ops": {"features__rfm": {"config": as_of_config}}}
