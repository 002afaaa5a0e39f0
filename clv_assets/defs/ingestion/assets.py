"""Landing files -> raw.orders + raw.rejected_orders (+ raw.landing_files)."""

from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from clv_assets.defs.ingestion.checks import raw_check_specs, raw_check_results
from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.incremental import (
    carry_over,
    files_present,
    log_load,
    merge_account_rows,
    read_since,
    source_key,
    stored_currency,
    stored_watermark,
    unchanged_files,
)
from clv_assets.lib.keys import RAW_ORDERS
from clv_assets.lib.landing import (
    MalformedLandingFile,
    account_settings,
    landing_files,
    loaded_state,
    source_fingerprint,
    stage_files,
    stage_source,
)
from clv_assets.lib.resources import LandingZone
from clv_assets.lib.sources import SourceError
from clv_assets.lib.warehouse import partition_metadata, read_query, read_sql, replace_account_rows, run_sql, transaction

REJECTED_ORDERS = dg.AssetKey(["raw", "rejected_orders"])
LANDING_FILES = dg.AssetKey(["raw", "landing_files"])
LANDING_FINGERPRINT = "landing_fingerprint"


class RawOrdersConfig(dg.Config):
    full_reload: bool = Field(
        default=False,
        description="Read every row of the account's source, replacing its raw rows, even when the "
        "source has an update column and a watermark (clv-assets materialize --full-reload).",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            RAW_ORDERS,
            description=(
                "Every order row of the account's landing files that passed validation, typed "
                "(UTC timestamps, numeric amounts), with its source file, row and load time. "
                "Includes cancelled and refunded orders and orders after the as-of date."
            ),
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            REJECTED_ORDERS,
            description=(
                "Landed rows that failed validation, exactly as sent, with a reason code "
                "(missing_customer_id, duplicate_order_id, future_timestamp, ...). Nothing "
                "landed is dropped silently: it is here or in raw.orders."
            ),
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            LANDING_FILES,
            description="The files read by the account's latest load and their data-row counts.",
            kinds={"duckdb"},
        ),
    ],
    check_specs=raw_check_specs(RAW_ORDERS),
    partitions_def=accounts_partitions,
    group_name="ingestion",
)
def raw_orders(
    context: dg.AssetExecutionContext, config: RawOrdersConfig, duckdb: DuckDBResource, landing: LandingZone
):
    """Load and validate the orders of one account's source, replacing its raw rows (a source
    with an update column: the rows changed since the last load, replacing those order ids)."""
    account = validate_account(context.partition_key)
    account_dir = landing.account_dir(account)
    with _fails_without_retry(MalformedLandingFile, SourceError):
        # every settings key (the source included) is checked before anything is read
        settings = account_settings(account_dir)
        source = settings.get("source")
        if source is None or source.kind == "landing":
            if not account_dir.is_dir():
                raise MalformedLandingFile(f"landing folder {account_dir} for account {account!r} does not exist")
            files = landing_files(account_dir)
        files_fingerprint = source_fingerprint(account_dir)
    kept: list[str] = []
    params = {
        "files_present": None,
        "account": account,
        "loaded_at": datetime.now(UTC),
        "currency": settings.get("currency"),
        "source": "landing" if source is None else getattr(source, "label", source.kind),
        "source_key": source_key(source),
    }
    with duckdb.get_connection() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        incremental = getattr(source, "update_column", None) is not None
        previous = stored_watermark(conn, account, params["source_key"]) if incremental else None
        since = None if config.full_reload else read_since(previous, getattr(source, "lookback_hours", 0))
        if since is not None and params["currency"] is None:
            params["currency"] = stored_currency(conn, account)
        # Staging reads every file before anything stored is touched: a malformed file
        # fails the run here and the account's previous rows stay as they were.
        with _fails_without_retry(MalformedLandingFile, SourceError):
            if source is None or source.kind == "landing":
                kept = [] if config.full_reload else unchanged_files(conn, account, files)
                stage_files(conn, [f for f in files if f.path.name not in kept])
                if kept:
                    carry_over(conn, account, kept)
                read, watermark = [f.path.name for f in files if f.path.name not in kept], None
                since = None  # the stored rows of unchanged files are validated again: a full replace
                params["files_present"] = files_present(files)
            else:
                stage_files(conn, [])
                read, watermark = stage_source(conn, source, since)
        params |= {
            "mode": "incremental" if since is not None or kept else "full",
            "read_since": since,
            "watermark": max((w for w in (watermark, previous if since else None) if w is not None), default=None),
            "files": read,
        }
        run_sql(
            conn,
            "CREATE OR REPLACE TEMP TABLE validated_landing_rows AS "
            + read_query("validated_landing_rows"),
            params,
        )
        if since is None:
            _fail_if_every_row_rejected(conn, account)
        with transaction(conn):
            if since is None:
                for key in (RAW_ORDERS, REJECTED_ORDERS, LANDING_FILES):
                    table = ".".join(key.path)
                    replace_account_rows(conn, table, account, read_sql(table), params)
            else:
                merge_account_rows(conn, account, params)
            log_load(conn, account, params)
        (rows_read,) = conn.execute(
            "SELECT count(*) FROM landing_rows WHERE list_contains($files, source_file)", {"files": params["files"]}
        ).fetchone()
        context.log.info(f"{params['mode']} load of {params['source']}: {rows_read:,} rows read (since {since})")
        for key in (RAW_ORDERS, REJECTED_ORDERS, LANDING_FILES):
            metadata = partition_metadata(conn, ".".join(key.path), account)
            # the landing sensor compares it with the folder: loaded files are not re-run
            metadata[LANDING_FINGERPRINT] = dg.MetadataValue.text(
                loaded_state(files_fingerprint, source, params["watermark"])
            )
            metadata |= {"load_mode": params["mode"], "rows_read": rows_read}
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
        yield from raw_check_results(conn, account, RAW_ORDERS)


def _fail_if_every_row_rejected(conn, account: str) -> None:
    """An account whose every row is rejected fails with the main reason (its stored rows stay)."""
    kept, total, reason, count = conn.execute(
        "SELECT count(*) FILTER (WHERE reject_reason IS NULL), count(*), mode(reject_reason), "
        "count(*) FILTER (WHERE reject_reason = mode_reason) FROM validated_landing_rows, "
        "(SELECT mode(reject_reason) AS mode_reason FROM validated_landing_rows)"
    ).fetchone()
    if total and not kept:
        raise dg.Failure(
            f"account {account!r}: every one of its {total:,} rows was rejected, "
            f"{count:,} as {reason}; stored rows left as they were",
            allow_retries=False,
        )


@contextmanager
def _fails_without_retry(*errors: type[Exception]):
    """Turn ``errors`` into a step failure the job's retry policy skips: a retry cannot fix a file."""
    try:
        yield
    except errors as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
