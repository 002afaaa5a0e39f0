"""The account job and the evaluation job (their run config: ``lib/run_config.py``)."""

from __future__ import annotations

import dagster as dg

from clv_assets.lib.accounts import accounts_partitions
from clv_assets.lib.keys import ACCOUNT_JOB, CODE_LOCATION_MODULE, EVALUATION, EVALUATION_JOB, FRESHNESS_CHECKS, POOLED_PRIOR

# Backtests refit every candidate model: on demand, not on every load or daily run.
BACKTEST = dg.AssetSelection.assets(EVALUATION)

# Transient failures (warehouse busy beyond the lock timeout, a killed step process, an
# I/O hiccup) are retried with backoff; deterministic ones (a malformed landing file)
# raise dg.Failure(allow_retries=False) and fail at once.
TRANSIENT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

# Steps run in processes forked from a server that imported the code location and PyMC
# once per run, instead of each step process importing them again (seconds per step).
STEP_PROCESS_PRELOAD = [CODE_LOCATION_MODULE, "clv_assets.stats.fitting"]

clv_account_job = dg.define_asset_job(
    ACCOUNT_JOB,
    # the freshness checks judge every account at once and the holdout evaluation refits
    # every candidate: each has a job of its own; the pooled prior spans all accounts
    # (pooled_prior_sensor refreshes it)
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.checks(*FRESHNESS_CHECKS)
    - BACKTEST
    - dg.AssetSelection.assets(POOLED_PRIOR),
    partitions_def=accounts_partitions,
    description="Materialise the whole graph (except the holdout evaluation) for one account partition.",
    executor_def=dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": STEP_PROCESS_PRELOAD}}}
    ),
    op_retry_policy=TRANSIENT_RETRY_POLICY,
)

clv_evaluation_job = dg.define_asset_job(
    EVALUATION_JOB,
    selection=BACKTEST,
    partitions_def=accounts_partitions,
    description="Holdout backtest of the candidate models and the model choice for one account partition.",
    op_retry_policy=TRANSIENT_RETRY_POLICY,
)
