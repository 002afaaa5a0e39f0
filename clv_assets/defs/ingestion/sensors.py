"""Watch the landing folder: register new accounts, run accounts whose files changed."""

import json
from pathlib import Path

import dagster as dg

from clv_assets.defs.ingestion.assets import LANDING_FINGERPRINT
from clv_assets.lib.accounts import accounts_partitions
from clv_assets.lib.keys import ACCOUNT_JOB, RAW_ORDERS
from clv_assets.lib.landing import MalformedLandingFile, discover_accounts, source_state
from clv_assets.lib.sources import SourceError
from clv_assets.lib.resources import LandingZone
from clv_assets.lib.run_config import account_run_config


@dg.sensor(job_name=ACCOUNT_JOB, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZone):
    """Add a partition for every new account (a landing folder or an entry of
    ``accounts.yaml``); request a run when its files or source settings change, or when a
    source with an update column has rows newer than its last load (one ``max`` query).

    The cursor maps each account to a fingerprint of its files (names, sizes, mtimes), so
    a tick with no change requests nothing; an account missing from the cursor is compared
    with the fingerprint its last raw/orders materialisation recorded, so files already
    loaded (say by ``clv-assets materialize``) are not loaded again. Folders whose names
    are not account slugs are logged and skipped.
    """
    root = Path(landing.root)
    try:
        valid, refused = discover_accounts(root)
    except MalformedLandingFile as exc:
        return dg.SkipReason(str(exc))
    for name in refused:
        context.log.warning(f"skipping landing folder {name!r}: not a valid account name")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(accounts_partitions.name))
    new_accounts = [a for a in valid if a not in known]
    current, unknown = {}, set()
    for account in valid:
        try:
            current[account] = source_state(root / account)
        except (MalformedLandingFile, SourceError) as exc:
            # its run would fail on the same line: say it here, look again next tick
            context.log.warning(str(exc))
            unknown.add(account)
            if account in seen:
                current[account] = seen[account]
    valid = [a for a in valid if a not in unknown]
    # the event log is read only for accounts the cursor does not know yet
    changed = [
        a
        for a in valid
        if current[a] != (seen[a] if a in seen else _loaded_fingerprint(context.instance, a))
    ]
    return dg.SensorResult(
        dynamic_partitions_requests=[accounts_partitions.build_add_request(new_accounts)] if new_accounts else [],
        run_requests=[
            dg.RunRequest(
                partition_key=account,
                run_key=f"{account}:{current[account]}",
                run_config=account_run_config(),
            )
            for account in changed
        ],
        cursor=json.dumps(current, sort_keys=True),
    )


def _loaded_fingerprint(instance: dg.DagsterInstance, account: str) -> str | None:
    """The landing fingerprint recorded by the account's latest raw/orders materialisation."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW_ORDERS, asset_partitions=[account]), limit=1
    ).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get(LANDING_FINGERPRINT)
    return value.value if value is not None else None
