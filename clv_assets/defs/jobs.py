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

# Transient failures (warehouse busy beyond the lock timeout, a killed step process, an
# I/O hiccup) are retried with backoff; deterministic ones (a malformed landing file)
# raise dg.Failure(allow_retries=False) and fail at once.
TRANSIENT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

# Steps run in processes forked from a server that imported the code location and PyMC
# once per run, instead of each step process importing them again (seconds per step).
STEP_PROCESS_PRELOAD = ["clv_assets.definitions", "clv_assets.models.fitting"]

clv_account_job = dg.define_asset_job(
    ACCOUNT_JOB,
    # the freshness checks judge every account at once and the holdout evaluation refits
    # every candidate: each has a job of its own
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(*FRESHNESS_CHECKS) - EVALUATION,
    partitions_def=accounts_partitions,
    description="Materialise the whole graph (except the holdout evaluation) for one account partition.",
    executor_def=dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": STEP_PROCESS_PRELOAD}}}
    ),
    op_retry_policy=TRANSIENT_RETRY_POLICY,
)

clv_evaluation_job = dg.define_asset_job(
    EVALUATION_JOB,
    selection=EVALUATION,
    partitions_def=accounts_partitions,
    description="Holdout backtest of the candidate models and the model choice for one account partition.",
    op_retry_policy=TRANSIENT_RETRY_POLICY,
)


FIT_OPS = ("purchase_model_fit", "gamma_gamma_fit")


def account_run_config(
    as_of: date | None = None, fit_method: str | None = None, purchase_model: str | None = None
) -> dict:
    """Run config of :data:`clv_account_job`; ``as_of`` None means today (UTC).

    ``fit_method`` (auto, mcmc, laplace, map) sets both fits' method and ``purchase_model``
    (bgnbd, mbgnbd, pareto_nbd, auto) the purchase model; None keeps their default.
    """
    as_of_config = {"as_of": as_of.isoformat()} if as_of else {}
    ops = {"features__rfm": {"config": as_of_config}}
    fit_config = {op: {} for op in FIT_OPS}
    if fit_method:
        for config in fit_config.values():
            config["method"] = fit_method
    if purchase_model:
        fit_config["purchase_model_fit"]["model"] = purchase_model
    ops.update({op: {"config": config} for op, config in fit_config.items() if config})
    return {"ops": ops}


def account_job() -> dg.JobDefinition:
    """:data:`clv_account_job` resolved in the code location, for ``dg.reconstructable``.

    ``dg.execute_job(dg.reconstructable(account_job), ...)`` runs it out of process with its
    multiprocess executor, as the daemon does, without a daemon.
    """
    from clv_assets.definitions import defs

    return defs.resolve_job_def(ACCOUNT_JOB)
