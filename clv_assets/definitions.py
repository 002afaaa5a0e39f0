"""The Dagster code location: everything under ``clv_assets/defs/``, bound to resources.

The definitions are discovered in the ``defs`` package (Dagster's ``defs`` folder
convention, also what ``dg`` loads): a new domain folder or module is picked up without
being listed here.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

import clv_assets.defs
from clv_assets import settings
from clv_assets.defs.freshness.policies import with_freshness_policy
from clv_assets.lib.keys import ACCOUNT_JOB
from clv_assets.lib.resources import LandingZone, warehouse_resource

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def defs_folder() -> dg.Definitions:
    """Every asset, check, job, schedule and sensor found in the ``defs`` package, unbound."""
    # From the package itself rather than the project file (pyproject.toml), which an
    # installed wheel does not have.
    return dg.ComponentTree.from_module(defs_module=clv_assets.defs, project_root=PROJECT_ROOT).build_defs()


def build_defs(warehouse: Path | None = None, landing_dir: Path | None = None) -> dg.Definitions:
    """Definitions bound to a warehouse file and landing folder (defaults: settings)."""
    warehouse = warehouse or settings.warehouse_path()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    resources = dg.Definitions(
        resources={
            "duckdb": warehouse_resource(warehouse),
            "landing": LandingZone(root=str(landing_dir or settings.landing_dir())),
        }
    )
    return dg.Definitions.merge(defs_folder(), resources).map_asset_specs(func=with_freshness_policy)


defs = build_defs()


def account_job() -> dg.JobDefinition:
    """The account job of :data:`defs`, for ``dg.reconstructable``.

    ``dg.execute_job(dg.reconstructable(account_job), ...)`` runs it out of process with its
    multiprocess executor, as the daemon does, without a daemon.
    """
    return defs.resolve_job_def(ACCOUNT_JOB)
