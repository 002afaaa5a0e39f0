"""The Dagster code location: assets, checks, jobs, sensors and resources."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from clv_assets import settings
from clv_assets.defs.bands import assets as band_assets
from clv_assets.defs.features import assets as feature_assets
from clv_assets.defs.features import checks as feature_checks
from clv_assets.defs.freshness import checks as freshness_checks
from clv_assets.defs.freshness.policies import with_freshness_policies
from clv_assets.defs.freshness.schedules import account_freshness_job, account_freshness_schedule
from clv_assets.defs.ingestion import assets as ingestion_assets
from clv_assets.defs.ingestion.schedules import daily_accounts_schedule
from clv_assets.defs.ingestion.sensors import landing_sensor
from clv_assets.defs.marts import assets as mart_assets
from clv_assets.defs.marts import checks as mart_checks
from clv_assets.defs.models import assets as model_assets
from clv_assets.defs.models import evaluation as evaluation_assets
from clv_assets.defs.predictions import assets as prediction_assets
from clv_assets.defs.predictions import channels as channel_assets
from clv_assets.defs.jobs import clv_account_job, clv_evaluation_job
from clv_assets.defs.serving.sensors import serving_publish_sensor
from clv_assets.lib.resources import LandingZone, warehouse_resource

ASSET_MODULES = [
    ingestion_assets, feature_assets, model_assets, prediction_assets, channel_assets, band_assets, mart_assets,
    evaluation_assets,
]
CHECK_MODULES = [feature_checks, mart_checks, freshness_checks]


def build_defs(warehouse: Path | None = None, landing_dir: Path | None = None) -> dg.Definitions:
    """Definitions bound to a warehouse file and landing folder (defaults: settings)."""
    warehouse = warehouse or settings.warehouse_path()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    return dg.Definitions(
        assets=with_freshness_policies(dg.load_assets_from_modules(ASSET_MODULES)),
        asset_checks=dg.load_asset_checks_from_modules(CHECK_MODULES),
        jobs=[clv_account_job, clv_evaluation_job, account_freshness_job],
        sensors=[landing_sensor, serving_publish_sensor],
        schedules=[daily_accounts_schedule, account_freshness_schedule],
        resources={
            "duckdb": warehouse_resource(warehouse),
            "landing": LandingZone(root=str(landing_dir or settings.landing_dir())),
        },
    )


defs = build_defs()
