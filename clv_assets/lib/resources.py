"""Resources shared by the asset modules."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"


def warehouse_resource(path: Path | str) -> DuckDBResource:
    """The one way to open the warehouse in this process.

    DuckDB shares one database instance per file and process and refuses a second
    connection configuration, so every caller goes through this. The memory limit
    (``CLV_DUCKDB_MEMORY_LIMIT``, default 1GB) makes large loads spill to disk instead
    of growing the process.
    """
    return DuckDBResource(
        database=str(path),
        connection_config={"memory_limit": os.environ.get("CLV_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT)},
    )


class LandingZone(dg.ConfigurableResource):
    """The landing folder: one sub-folder of order files per account."""

    root: str

    def account_dir(self, account: str) -> Path:
        return Path(self.root) / account
