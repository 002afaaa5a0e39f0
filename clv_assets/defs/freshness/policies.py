"""Asset-level freshness policies, shown in the UI (the freshness daemon evaluates them)."""

from datetime import timedelta

import dagster as dg

from clv_assets import settings


def freshness_policy(key: dg.AssetKey) -> dg.FreshnessPolicy:
    """The asset-level policy the UI shows: the load limit for the raw layer, the
    prediction limit for everything computed from it. It only says whether *some*
    account is recent; the checks in checks.py judge each account."""
    hours = settings.max_load_age_hours() if key.path[0] == "raw" else settings.max_prediction_age_hours()
    # Dagster refuses windows under a minute; the checks take any positive limit
    return dg.FreshnessPolicy.time_window(fail_window=max(timedelta(hours=hours), timedelta(minutes=1)))


def with_freshness_policy(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with :func:`freshness_policy`, unless it declares its own."""
    return dg.apply_freshness_policy(spec, freshness_policy(spec.key), overwrite_existing=False)
