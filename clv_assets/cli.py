"""``clv-assets``: write demo data and materialise the graph as real Dagster runs.

This module is the command line: its arguments, their types and the dispatch, with every
error of the user's making as one line and exit status 2. Running the accounts is
``clv_assets.account_runner``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
from datetime import date

from clv_assets import account_runner, settings
from clv_assets.account_runner import InputError
from clv_assets.lib.accounts import InvalidAccountError, validate_account
from clv_assets.lib.audiences import FORMATS, AudienceError, export_audience
from clv_assets.lib.run_config import FIT_METHODS
from clv_assets.stats.registry import SERVED_PURCHASE_MODELS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise InputError(message)


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
    parser = _Parser(prog="clv-assets", description=__doc__.split("\n\n")[0])
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
        "--model", choices=["auto", *SERVED_PURCHASE_MODELS], default=None,
        help="purchase model (default: the account's settings file, else bgnbd); "
        "auto: the one the account's holdout backtest (clv_evaluation_job) scored best",
    )
    mat.add_argument(
        "--parallel", type=_positive_int, default=None,
        help="accounts materialised side by side in this process (default: 2 on a machine of 2 or more cores)",
    )
    mat.add_argument(
        "--workers", type=_positive_int, default=1,
        help="processes materialising accounts side by side, each one account at a time (default 1: this process)",
    )
    mat.add_argument(
        "--full-reload", action="store_true",
        help="read every row of each account's source (no incremental load from its watermark)",
    )
    mat.add_argument(
        "--refit", action="store_true",
        help="fit both models anew, even where a stored fit younger than refit_every_days would be reused",
    )
    mat.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # no publish, no summary
    pub = commands.add_parser("publish", help="copy accounts to the serving file BI tools read")
    pub.add_argument("--account", action="append", default=[], help="repeatable; default: all")
    export = commands.add_parser("export", help="write a segment's audience file for an e-mail or ad tool")
    export.add_argument("--account", required=True)
    export.add_argument("--segment", required=True, help="a segment name of sql/marts/segments.yaml")
    export.add_argument(
        "--changes-since", type=_iso_date, default=None,
        help="only who entered or left the segment after this date (YYYY-MM-DD)",
    )
    export.add_argument("--format", choices=FORMATS, default="csv")
    export.add_argument("--output", required=True, help="file to write")
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
            return account_runner.publish(args.account)
        if args.command == "export":
            return _export(args)
        options = account_runner.RunOptions(
            as_of=args.as_of, method=args.method, model=args.model, full_reload=args.full_reload, refit=args.refit
        )
        return account_runner.materialize(
            args.account, options, workers=args.workers, worker=args.worker, parallel=args.parallel
        )
    except (InputError, InvalidAccountError, AudienceError, settings.InvalidSettingError) as exc:
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


def _export(args: argparse.Namespace) -> int:
    serving = settings.served_file(validate_account(args.account))
    rows = export_audience(serving, args.account, args.segment, args.output, args.format, args.changes_since)
    what = f"changes since {args.changes_since}" if args.changes_since else "members"
    print(f"wrote {args.output}: {rows:,} {what} of {args.segment} in {args.account} (from {serving})")
    return 0


if __name__ == "__main__":  # the --workers processes
    console()
