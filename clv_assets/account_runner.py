"""Running accounts for ``clv-assets``: each account's graph as a real Dagster run on the
instance, in this process or in worker processes side by side; then the pooled prior when it
is due (the rule of ``pooled_prior_sensor``, ``lib/pooled_refresh.py``) and again the
accounts that waited for it; then the serving copy, the freshness checks and the printed
summary. The command line itself (arguments, dispatch, one-line errors) is
``clv_assets.cli``."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from clv_assets import settings
from clv_assets.lib.accounts import validate_account
from clv_assets.lib.run_config import account_run_config

SUMMARY_TABLES = [
    "raw.orders",
    "raw.rejected_orders",
    "staging.customer_transactions",
    "features.rfm",
    "models.fits",
    "predictions.customers",
    "marts.customer_profile",
    "marts.customer_segments",
    "marts.account_summary",
]

# Dagster's own console log stays quiet; every event is in the instance (and the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class InputError(Exception):
    """A user-facing error about the command's input: printed as one line, exit status 2."""


@dataclass(frozen=True)
class RunOptions:
    """What ``clv-assets materialize`` passes to every account run."""

    as_of: date | None = None  # observation end; None: today (UTC)
    method: str | None = None  # fit method of both models; None: their config
    model: str | None = None  # purchase model; None: the account's settings, else bgnbd
    full_reload: bool = False  # read every row of each source (no incremental load)
    refit: bool = False  # fit anew even where a stored fit could be reused (refit_every_days)

    def run_config(self) -> dict:
        return {**account_run_config(self.as_of, self.method, self.model, self.full_reload, self.refit), **QUIET}

    def worker_argv(self, accounts: list[str]) -> list[str]:
        """The command of a worker process running ``accounts`` with these options."""
        argv = [sys.executable, "-m", "clv_assets.cli", "materialize", "--worker", "--parallel", "1"]
        argv += ["--as-of", self.as_of.isoformat()] if self.as_of else []
        argv += ["--method", self.method] if self.method else []
        argv += ["--model", self.model] if self.model else []
        argv += ["--full-reload"] if self.full_reload else []
        argv += ["--refit"] if self.refit else []
        return argv + [arg for account in accounts for arg in ("--account", account)]


def materialize(
    requested: list[str], options: RunOptions, workers: int = 1, worker: bool = False, parallel: int | None = None
) -> int:
    """Register the landing folder's accounts (or ``requested``) as partitions and run each;
    the exit status. ``parallel`` accounts run side by side in this process (default
    :func:`default_parallel`), or with ``workers`` > 1 that many processes run one account
    at a time each. A ``worker`` runs its accounts only: no publish, no summary."""
    from clv_assets.lib.landing import MalformedLandingFile, accounts_file, discover_accounts

    requested = [validate_account(a) for a in requested]
    landing = settings.landing_dir()
    if not landing.is_dir() and not accounts_file(landing).is_file():
        raise InputError(f"landing folder {landing} does not exist (run `clv-assets demo` or set CLV_LANDING_DIR)")
    try:
        valid, refused = discover_accounts(landing)
    except MalformedLandingFile as exc:
        raise InputError(str(exc)) from None
    for name in refused:
        print(f"skipping landing folder {name!r}: not a valid account name", file=sys.stderr)
    missing = [a for a in requested if a not in valid]
    if missing:
        raise InputError(f"no landing folder in {landing} nor entry in {accounts_file(landing)} for account(s) {', '.join(missing)}")
    accounts = requested or valid
    if not accounts:
        raise InputError(f"no account folders in {landing}")

    settings.ensure_dagster_home()
    import dagster as dg

    from clv_assets.definitions import build_defs
    from clv_assets.lib.accounts import accounts_partitions
    from clv_assets.lib.keys import ACCOUNT_JOB

    instance = dg.DagsterInstance.get()
    known = set(instance.get_dynamic_partitions(accounts_partitions.name))
    new = [a for a in accounts if a not in known]
    if new:
        instance.add_dynamic_partitions(accounts_partitions.name, new)
        print(f"registered account partition(s): {', '.join(new)}")
    defs = build_defs(landing_dir=landing)
    job = defs.resolve_job_def(ACCOUNT_JOB)
    if workers > 1 and len(accounts) > 1:
        failed = _run_in_workers(instance, job, accounts, options, workers)
    else:
        failed = _run_here(instance, job, accounts, options.run_config(), parallel or default_parallel())
    refresh = None
    if not worker:
        refresh = _refresh_pooled_prior(instance, defs, job, [a for a in accounts if a not in failed], options)
        failed += refresh.failed
        _publish_and_print([a for a in accounts if a not in failed])
        _evaluate_freshness(instance, defs)
        _print_summary(accounts, refresh)
    if failed:
        print(f"clv-assets: error: {len(failed)} account(s) failed: {', '.join(failed)}", file=sys.stderr)
    if refresh and not refresh.ok:
        print(f"clv-assets: error: pooled prior {refresh.outcome}", file=sys.stderr)
    return 1 if failed or (refresh and not refresh.ok) else 0


def default_parallel() -> int:
    """Accounts side by side in one process by default: two where two cores can run them.
    More do not help on two cores; each also holds its account's arrays (decision 0040)."""
    return min(2, settings.usable_cores())


@dataclass
class PooledRefresh:
    """What :func:`_refresh_pooled_prior` did, for the summary."""

    outcome: str  # learnt from N accounts (run ...), not due (why), or FAILED (why)
    ok: bool = True
    rerun: list[str] = field(default_factory=list)  # accounts run again with the new prior
    failed: list[str] = field(default_factory=list)  # of those, the runs that failed
    waiting: list[str] = field(default_factory=list)  # accounts still waiting for a prior


def _refresh_pooled_prior(instance, defs, job, accounts: list[str], options: RunOptions) -> PooledRefresh:
    """Learn ``models/pooled_prior`` when it is due, by the sensor's rule
    (``lib/pooled_refresh.py``), as a run on the instance; then run again those of
    ``accounts`` that were left unfitted for want of it, with the account ``job``."""
    from clv_assets.defs.models.assets import FitConfig
    from clv_assets.lib.keys import POOLED_PRIOR
    from clv_assets.lib.pooled_refresh import accounts_waiting_for_pooled_prior, pooled_prior_refresh_due
    from clv_assets.lib.resources import warehouse_resource

    if not _warehouse_exists():
        return PooledRefresh("not due (no warehouse yet)")
    fits = FitConfig()
    with warehouse_resource(settings.warehouse_path()).get_connection() as conn:
        due, reason = pooled_prior_refresh_due(conn)
        waiting = accounts_waiting_for_pooled_prior(conn, accounts, fits.min_customers_pooled, fits.min_repeat_buyers_pooled)
    if not due:
        return PooledRefresh(f"not due ({reason})", waiting=waiting)
    print(f"pooled prior: due ({reason}): materialising {POOLED_PRIOR.to_user_string()} ...", flush=True)
    started = time.perf_counter()
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[POOLED_PRIOR], run_config=QUIET, raise_on_error=False
    )
    run = f"run {result.run_id[:8]}"
    if not result.success:
        outcome = f"FAILED ({run}): {_failure_message(result)}"
        print(f"pooled prior: {outcome}", flush=True)
        return PooledRefresh(outcome, ok=False, waiting=waiting)
    (event,) = result.get_asset_materialization_events()
    outcome = f"learnt from {event.materialization.metadata['n_accounts'].value} accounts ({run})"
    print(f"pooled prior: {outcome} in {time.perf_counter() - started:.1f} s", flush=True)
    if waiting:
        print(f"running again the account(s) that waited for the pooled prior: {', '.join(waiting)}", flush=True)
    failed = _run_here(instance, job, waiting, options.run_config()) if waiting else []
    return PooledRefresh(outcome, rerun=waiting, failed=failed)


def _warehouse_exists() -> bool:
    from clv_assets.lib.lake import lake_settings

    return settings.warehouse_path().exists() or lake_settings() is not None


def _run_here(instance, job, accounts: list[str], run_config: dict, parallel: int = 1) -> list[str]:
    """One run per account in this process (imports and compiled models are reused),
    ``parallel`` accounts side by side (threads), the warehouse held open
    across them (``hold_open``: no open, close and checkpoint per connection, ~30% of a
    small account's run). A process that wants the file meanwhile (another worker, a run
    of the daemon or the UI) gets it once this process has held it ``MIN_HOLD_SECONDS``:
    at the end of one of its connections, or at once while none is open (as it fits):
    workers take turns, one fitting while another writes.

    Side by side, one account's fit samples or its Python runs while the other's SQL runs
    in DuckDB (which releases the interpreter lock): a one-process run of 20 x 5,000
    customers uses 1.25 of 2 cores one at a time (decision 0040). On a warehouse without
    the job's tables the first account runs alone: it creates them. An account that meets
    a write-write conflict of DuckDB's catalog beside another (two runs creating one table,
    or adding one column after an upgrade) runs again alone.
    """
    from clv_assets.lib.resources import hold_open, warehouse_resource

    warehouse = warehouse_resource(settings.warehouse_path())
    counters = {account: f"[{i}/{len(accounts)}]" for i, account in enumerate(accounts, 1)}
    outcome: dict[str, str | None] = {}  # account -> None (succeeded) or the failure
    with hold_open(warehouse):
        side_by_side = min(parallel, len(accounts)) if _runs_side_by_side_safely(instance, warehouse) else 1
        alone = accounts if side_by_side == 1 else [] if _has_job_tables(warehouse) else accounts[:1]
        for account in alone:
            outcome[account] = _run_account(instance, job, account, run_config, counters[account])
        rest = accounts[len(alone):]
        if rest:
            from concurrent.futures import ThreadPoolExecutor

            from clv_assets.lib.plot_process import helper_process

            threads = min(side_by_side, len(rest))
            pool = ThreadPoolExecutor(threads, thread_name_prefix="account-run")
            # side by side, fits' plots are drawn in a helper process, off the shared interpreter
            with helper_process() if threads > 1 else contextlib.nullcontext():
                try:
                    runs = pool.map(lambda a: _run_account(instance, job, a, run_config, counters[a]), rest)
                    outcome |= dict(zip(rest, runs, strict=True))
                finally:
                    # on Ctrl-C the runs in progress end, and no other starts
                    pool.shutdown(cancel_futures=True)
            for account in rest:
                if outcome[account] and CATALOG_CONFLICT in outcome[account]:
                    print(f"{counters[account]} {account}: running again alone", flush=True)
                    outcome[account] = _run_account(instance, job, account, run_config, counters[account])
    return [account for account in accounts if outcome[account] is not None]


# DuckDB's error when two transactions change one catalog entry (say, create one table)
CATALOG_CONFLICT = "Catalog write-write conflict"


def _has_job_tables(warehouse) -> bool:
    """Whether the warehouse has the account job's tables (those the summary counts)."""
    from clv_assets.lib.warehouse import table_exists

    with warehouse.get_connection() as conn:
        return all(table_exists(conn, table) for table in SUMMARY_TABLES)


def _runs_side_by_side_safely(instance, warehouse) -> bool:
    """Whether runs may share this process: with the project's local instance (runs'
    output captured per thread, no logging reset per run: ``lib/instance_storage.py``;
    Dagster's own instance, as on PostgreSQL, has neither) and a warehouse file held open
    (a DuckLake's connections are not cursors of one held instance; not tried side by side)."""
    from clv_assets.lib.instance_storage import KeptOpenSqliteInstance

    return isinstance(instance, KeptOpenSqliteInstance) and not warehouse.is_lake


def _run_account(instance, job, account: str, run_config: dict, counter: str) -> str | None:
    """One run of ``account``, its outcome printed on one line; None if it succeeded, else
    why it failed."""
    print(f"{counter} {account}: materialising ...", flush=True)
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, partition_key=account, run_config=run_config, raise_on_error=False)
    seconds = time.perf_counter() - started
    if result.success:
        print(f"{counter} {account}: ok in {seconds:.1f} s (run {result.run_id[:8]})", flush=True)
        return None
    failure = _failure_message(result)
    print(f"{counter} {account}: FAILED in {seconds:.1f} s (run {result.run_id[:8]}): {failure}", flush=True)
    return failure


def _run_in_workers(instance, job, accounts: list[str], options: RunOptions, workers: int) -> list[str]:
    """Split the accounts over ``workers`` processes, each running its share like ``_run_here``:
    this process and ``workers - 1`` worker processes (one process start and import fewer).

    Fits of different accounts then sample side by side, while the warehouse lock
    serialises their short reads and writes.
    """
    import subprocess

    import dagster as dg

    started = time.time()
    shares = [accounts[i::workers] for i in range(workers)]
    procs = [subprocess.Popen(options.worker_argv(share)) for share in shares[1:] if share]
    _run_here(instance, job, shares[0], options.run_config())
    for proc in procs:
        proc.wait()
    # the instance, not the workers' exit codes, says which account ended how
    succeeded = {
        record.dagster_run.tags.get("dagster/partition")
        for record in instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS], created_after=datetime.fromtimestamp(started, UTC))
        )
    }
    return [a for a in accounts if a not in succeeded]


def _evaluate_freshness(instance, defs) -> None:
    """Run the freshness checks now, so the UI shows a result from the first materialisation
    instead of "Not evaluated" until the hourly schedule first runs."""
    from clv_assets.defs.freshness.schedules import FRESHNESS_JOB

    result = defs.resolve_job_def(FRESHNESS_JOB).execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    for evaluation in result.get_asset_check_evaluations():
        status = "passed" if evaluation.passed else "FAILED"
        print(f"freshness check {evaluation.check_name}: {status}: {evaluation.description}")


def _publish_and_print(accounts: list[str]) -> None:
    """Copy ``accounts`` to the serving file BI tools read (``clv_assets.lib.serving``)."""
    from clv_assets.lib.resources import warehouse_resource
    from clv_assets.lib.serving import publish

    if accounts:
        _, serving = publish(warehouse_resource(settings.warehouse_path()), accounts)
        print(f"published {len(accounts)} account(s) to {serving}")


def publish(requested: list[str]) -> int:
    """Publish accounts whose latest run succeeded (say after runs launched without the daemon)."""
    settings.ensure_dagster_home()
    import dagster as dg

    from clv_assets.lib.accounts import accounts_partitions

    requested = [validate_account(a) for a in requested]
    instance = dg.DagsterInstance.get()
    known = instance.get_dynamic_partitions(accounts_partitions.name)
    unknown = [a for a in requested if a not in known]
    if unknown:
        raise InputError(f"unknown account(s): {', '.join(unknown)}")
    if not known:
        raise InputError("no account partitions registered (run `clv-assets materialize` first)")
    ready, not_ready = [], []
    for account in requested or known:
        latest = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": account}), limit=1)
        succeeded = latest and latest[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS
        (ready if succeeded else not_ready).append(account)
    for account in not_ready:
        print(f"not publishing {account}: its latest run did not succeed (or is still running)", file=sys.stderr)
    _publish_and_print(ready)
    return 1 if not_ready else 0


DAGSTER_WRAPPERS = {"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError", "DagsterExecutionInterruptedError"}


def _failure_message(result) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            # skip Dagster's wrappers ("Error occurred while executing ...") but stop at the
            # first error of ours: its message names the file or setting, its causes don't
            while error.cause is not None and error.cls_name in DAGSTER_WRAPPERS:
                error = error.cause
            message = error.message.strip().splitlines()[0]
            # a dg.Failure's message is ours; Dagster prefixes it with the class's path
            if error.cls_name == "Failure":
                message = message.removeprefix("dagster._core.definitions.events.Failure: ")
            return f"{event.step_key}: {message}"
    return "run failed (see the Dagster UI for its logs)"


def _print_summary(accounts: list[str], refresh: PooledRefresh) -> None:
    from clv_assets.lib.lake import lake_settings
    from clv_assets.lib.resources import warehouse_resource
    from clv_assets.lib.warehouse import table_exists

    if not _warehouse_exists():
        return
    path = settings.warehouse_path()
    lake = lake_settings()
    # the runs' own resource: DuckDB refuses a second configuration of one file per process
    with warehouse_resource(path).get_connection() as conn:
        print(f"\nwarehouse: {f'DuckLake, data {lake.data}' if lake else path}")
        print(f"accounts:  {', '.join(accounts)}")
        for table in SUMMARY_TABLES:
            if table_exists(conn, table):
                rows = conn.execute(
                    f"SELECT count(*), count(DISTINCT account) FROM {table} WHERE list_contains($a, account)",
                    {"a": accounts},
                ).fetchone()
                print(f"  {table:<32} {rows[0]:>10,} rows  ({rows[1]} accounts)")
        print(f"pooled prior (models/pooled_prior): {refresh.outcome}")
        if refresh.rerun:
            print("  run again with it, having waited for it:")
            statuses = conn.execute(
                "SELECT account, string_agg(model || ' ' || status || ' (' || coalesce(prior, reason, '') || ')', ', ' "
                "ORDER BY model) FROM models.fit_status WHERE list_contains($a, account) GROUP BY account ORDER BY account",
                {"a": refresh.rerun},
            ).fetchall()
            for account, status in statuses:
                print(f"    {account}: {status}")
        if refresh.waiting and not refresh.rerun:
            print(f"  waiting for it (too small to fit alone): {', '.join(refresh.waiting)}")
    serving = settings.served_file(accounts[0]) if accounts else settings.serving_path()
    print(
        f"\nBI tools read the serving copy {serving} (never the warehouse, which runs lock).\n"
        "example query (any DuckDB client; here the project's Python):\n"
        f"  .venv/bin/python -c \"import duckdb; duckdb.connect('{serving}', read_only=True).sql("
        "'SELECT account, customers, round(avg_predicted_spend, 2) AS avg_clv, round(predicted_revenue) AS revenue, "
        "round(predicted_revenue_p05) AS p05, round(predicted_revenue_p95) AS p95, model_status "
        "FROM marts.account_summary ORDER BY account').show()\"\n"
        "more queries: docs/bi_guide.md"
    )
