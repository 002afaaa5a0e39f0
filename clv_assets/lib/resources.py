"""Resources shared by the asset modules."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class LandingZone(dg.ConfigurableResource):
    """The landing folder: one sub-folder of order files per account."""

    root: str

    def account_dir(self, account: str) -> Path:
        return Path(self.root) / account
