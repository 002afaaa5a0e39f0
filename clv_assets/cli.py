"""``clv-assets``: write demo data and materialise the graph as real Dagster runs."""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
import time
from datetime import UTC, date, datetime
from pathlib import Path

from clv_assets import settings
from clv_assets.lib.accounts import InvalidAccountError, validate_account
from clv_assets.lib.run_config import FIT_METHODS
from clv_assets.stats.registry import PURCHASE_MODELS

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


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise CliError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="clv-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = commands.add_parser("demo", help="write synthetic order files per account")
    demo.add_argument("--accounts", type=_positive_int, default=3)
    demo.add_argument("--customers", type=_positive_int, default=2000)
    demo.add_argument("--seed", type=int, default=7)
    mat = commands.add_parser("materialize", help="register accounts and materialise the graph")
    mat.add_argument("--account", action="append", default=[], help="repeatable; default: all")
    mat.add_argument("--as-of", type=_iso_date, default=None, help="observation end, YYYY-MM-DD")
    mat.add_argument(
        "--method", choices=FIT_METHODS, default=None,
        help="fit method of both models (default: their config, auto)",
    )
    mat.add_argument(
        "--model", choices=["auto", *PURCHASE_MODELS], default=None,
        help="purchase model (default: the account's settings file, else bgnbd); "
        "auto: the one the account's holdout backtest (clv_evaluation_job) scored best",
    )
    mat.add_argument(
        "--workers", type=_positive_int, default=1,
        help="processes materialising accounts side by side (default 1)",
    )
    mat.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # no publish, no summary
    pub = commands.add_parser("publish", help="copy accounts to the serving file BI tools read")
    pub.add_argument("--account", action="append", default=[], help="repeatable; default: all")
    return parser


def console() -> None:
    """The ``clv-assets`` command: :func:`main`, then exit without a last garbage collection.

    At exit Python collects the whole heap (Dagster's, PyMC's and PyTensor's objects): 1.7 s
    after a million-customer run. Everything is written and closed by then, so the objects
    are frozen and left to the operating system.
    """
    code = main()
    sys.stdout.flush()
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="dagster")
    try:
        args = build_parser().parse_args(argv)
        if args.command == "demo":
            return _demo(args)
        if args.command == "publish":
            return _publish(args)
        return _materialize(args)
    except (CliError, InvalidAccountError, settings.InvalidSettingError) as exc:
        print(f"clv-assets: error: {exc}", file=sys.stderr)
        return 2


def _demo(args: argparse.Namespace) -> int:
    from clv_assets.demo import write_demo_accounts

    landing = settings.landing_dir()
    truths = write_demo_accounts(landing, n_accounts=args.accounts, n_customers=args.customers, seed=args.seed)
    for truth in truths:
        files = ", ".join(f"{name} ({rows:,} rows)" for name, rows in truth["rows_per_file"].items())
        print(f"wrote {landing / truth['account']}: {files}")
    return 0


def _materialize(args: argparse.Namespace) -> int:
    from clv_assets.lib.landing import account_folders

    requested = [validate_account(a) for a in args.account]
    landing = settings.landing_dir()
    if not landing.is_dir():
        raise CliError(f"landing folder {landing} does not exist (run `clv-assets demo` or set CLV_LANDING_DIR)")
    valid, refused = account_folders(landing)
    for name in refused:
        print(f"skipping landing folder {name!r}: not a valid account name", file=sys.stderr)
    missing = [a for a in requested if a not in valid]
    if missing:
        raise CliError(f"no landing folder for account(s) {', '.join(missing)} in {landing}")
    accounts = requested or valid
    if not accounts:
        raise CliError(f"no account folders in {landing}")

    settings.ensure_dagster_home()
    import dagster as dg

    from clv_assets.definitions import build_defs
    from clv_assets.lib.accounts import accounts_partitions
    from clv_assets.lib.keys import ACCOUNT_JOB
    from clv_assets.lib.run_config import account_run_config

    instance = dg.DagsterInstance.get()
    known = set(instance.get_dynamic_partitions(accounts_partitions.name))
    new = [a for a in accounts if a not in known]
    if new:
        instance.add_dynamic_partitions(accounts_partitions.name, new)
        print(f"registered account partition(s): {', '.join(new)}")
    if args.workers > 1 and len(accounts) > 1:
        failed = _run_in_workers(instance, accounts, args, args.workers)
    else:
        job = build_defs(landing_dir=landing).resolve_job_def(ACCOUNT_JOB)
        # a worker shares the file with the other workers: it opens it per connection
        hold = not args.worker
        failed = _run_here(instance, job, accounts, account_run_config(args.as_of, args.method, args.model), hold)
    if not args.worker:
        _publish_and_print([a for a in accounts if a not in failed])
        _evaluate_freshness(instance, landing)
        _print_summary(accounts)
    if failed:
        print(f"clv-assets: error: {len(failed)} account(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# Longest stretch this process keeps the warehouse to itself (see _run_here).
MAX_HOLD_SECONDS = 60.0


def _run_here(instance, job, accounts: list[str], run_config: dict, hold: bool = False) -> list[str]:
    """One run per account, one after the other in this process (imports and compiled models are reused).

    ``hold``: keep the warehouse open across runs (``hold_open``: no open, close and
    checkpoint per connection, ~30% of a small account's run). Between two runs, once
    it has been held ``MAX_HOLD_SECONDS``, it is let go for a moment, so a run launched
    elsewhere (the daemon, the UI) waits about a minute, not the whole command.
    """
    from contextlib import ExitStack

    from clv_assets.lib.resources import hold_open, warehouse_resource

    # Dagster's own console log stays quiet; every event is in the instance (and the UI).
    run_config["loggers"] = {"console": {"config": {"log_level": "CRITICAL"}}}
    failed = []
    with ExitStack() as held:
        held_since = None
        for i, account in enumerate(accounts, 1):
            if hold and (held_since is None or time.monotonic() - held_since > MAX_HOLD_SECONDS):
                if held_since is not None:
                    held.close()
                    time.sleep(0.2)  # a process waiting for the file polls every 0.05 s
                held.enter_context(hold_open(warehouse_resource(settings.warehouse_path())))
                held_since = time.monotonic()
            if not _run_account(instance, job, account, run_config, f"[{i}/{len(accounts)}]"):
                failed.append(account)
    return failed


def _run_account(instance, job, account: str, run_config: dict, counter: str) -> bool:
    """One run of ``account``, its outcome printed on one line; whether it succeeded."""
    print(f"{counter} {account}: materialising ...", flush=True)
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, partition_key=account, run_config=run_config, raise_on_error=False)
    seconds = time.perf_counter() - started
    if result.success:
        print(f"{counter} {account}: ok in {seconds:.1f} s (run {result.run_id[:8]})", flush=True)
    else:
        print(f"{counter} {account}: FAILED in {seconds:.1f} s (run {result.run_id[:8]}): "
              f"{_failure_message(result)}", flush=True)
    return result.success


def _run_in_workers(instance, accounts: list[str], args: argparse.Namespace, workers: int) -> list[str]:
    """Split the accounts over ``workers`` processes, each running its share like ``_run_here``.

    Fits of different accounts then sample side by side, while the warehouse lock
    serialises their short reads and writes.
    """
    import subprocess

    import dagster as dg

    started = time.time()
    shares = [accounts[i::workers] for i in range(workers)]
    procs = []
    for share in filter(None, shares):
        argv = [sys.executable, "-m", "clv_assets.cli", "materialize", "--worker"]
        argv += ["--as-of", args.as_of.isoformat()] if args.as_of else []
        argv += ["--method", args.method] if args.method else []
        argv += ["--model", args.model] if args.model else []
        argv += [arg for account in share for arg in ("--account", account)]
        procs.append(subprocess.Popen(argv))
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


def _evaluate_freshness(instance, landing) -> None:
    """Run the freshness checks now, so the UI shows a result from the first materialisation
    instead of "Not evaluated" until the hourly schedule first runs."""
    from clv_assets.definitions import build_defs
    from clv_assets.defs.freshness.schedules import FRESHNESS_JOB

    job = build_defs(landing_dir=landing).resolve_job_def(FRESHNESS_JOB)
    result = job.execute_in_process(
        instance=instance, raise_on_error=False, run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    )
    for evaluation in result.get_asset_check_evaluations():
        status = "passed" if evaluation.passed else "FAILED"
        print(f"freshness check {evaluation.check_name}: {status}: {evaluation.description}")


def _publish_and_print(accounts: list[str]) -> None:
    """Copy ``accounts`` to the serving file BI tools read (``clv_assets.lib.serving``)."""
    from clv_assets.lib.resources import warehouse_resource
    from clv_assets.lib.serving import publish_accounts

    if accounts:
        serving = settings.serving_path()
        publish_accounts(warehouse_resource(settings.warehouse_path()), serving, accounts)
        print(f"published {len(accounts)} account(s) to {serving}")


def _publish(args: argparse.Namespace) -> int:
    """Publish accounts whose latest run succeeded (say after runs launched without the daemon)."""
    settings.ensure_dagster_home()
    import dagster as dg

    from clv_assets.lib.accounts import accounts_partitions

    requested = [validate_account(a) for a in args.account]
    instance = dg.DagsterInstance.get()
    known = instance.get_dynamic_partitions(accounts_partitions.name)
    unknown = [a for a in requested if a not in known]
    if unknown:
        raise CliError(f"unknown account(s): {', '.join(unknown)}")
    if not known:
        raise CliError("no account partitions registered (run `clv-assets materialize` first)")
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
            return f"{event.step_key}: {error.message.strip().splitlines()[0]}"
    return "run failed (see the Dagster UI for its logs)"


def _print_summary(accounts: list[str]) -> None:
    from clv_assets.lib.lake import lake_settings
    from clv_assets.lib.resources import warehouse_resource
    from clv_assets.lib.warehouse import table_exists

    path = settings.warehouse_path()
    lake = lake_settings()
    if not path.exists() and lake is None:
        return
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
    serving = settings.serving_path()
    print(
        f"\nBI tools read the serving copy {serving} (never the warehouse, which runs lock).\n"
        "example query (any DuckDB client; here the project's Python):\n"
        f"  .venv/bin/python -c \"import duckdb; duckdb.connect('{serving}', read_only=True).sql("
        "'SELECT account, customers, round(avg_predicted_spend, 2) AS avg_clv, round(predicted_revenue) AS revenue, "
        "round(predicted_revenue_p05) AS p05, round(predicted_revenue_p95) AS p95, model_status "
        "FROM marts.account_summary ORDER BY account').show()\"\n"
        "more queries: docs/bi_guide.md"
    )


if __name__ == "__main__":  # the --workers processes
    console()
