"""Prediction run config: the horizons and discounting, with per-account overrides.

A run sets them through the ``predictions__customers`` op config; an account may override
the horizons in its ``_account.json`` under ``"predictions"``.
"""

from __future__ import annotations

import dagster as dg
from pydantic import ValidationError, field_validator

from clv_assets.stats.predict import PredictionSettings

# the settings an account may override (the horizons of predictions and bands)
HORIZONS = ("horizon_days", "purchase_horizon_days", "churn_horizon_days")


class PredictionConfig(dg.Config):
    """Run config; an account may override the horizons in its ``_account.json`` under
    ``"predictions"``, e.g. ``{"predictions": {"purchase_horizon_days": 14}}``."""

    horizon_days: int = 365
    """Days from as_of over which orders, spend and P(order) are predicted (12 months)."""
    purchase_horizon_days: int = 30
    """purchase_probability: P(order within this many days), "likely to buy now"."""
    churn_horizon_days: int = 365
    """churn_probability: P(no order within this many days)."""
    discount_rate: float = 0.0
    """Annual discount rate of predicted spend; 0 = undiscounted."""
    draws: int = 200
    """Posterior draws used (thinned evenly from the stored ones)."""
    chunk_rows: int = PredictionSettings.chunk_rows
    """Distinct histories per chunk of the posterior arithmetic (bounds memory)."""

    @field_validator("horizon_days", "purchase_horizon_days", "churn_horizon_days")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"horizons are positive numbers of days, got {value}")
        return value

    def for_account(self, overrides: dict | None, source: str) -> "PredictionConfig":
        """This config with an account's horizon overrides applied; a clear error if invalid."""
        if overrides is None:
            return self
        if not isinstance(overrides, dict) or set(overrides) - set(HORIZONS):
            raise dg.Failure(
                f"{source}: 'predictions' must be an object with some of {list(HORIZONS)}", allow_retries=False
            )
        try:
            return type(self)(**{**self.model_dump(), **overrides})
        except ValidationError as exc:
            raise dg.Failure(f"{source}: invalid prediction settings: {exc.errors()[0]['msg']}", allow_retries=False) from None
