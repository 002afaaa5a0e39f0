"""An account's settings file (``<landing>/<account>/_account.json``), checked as a whole.

Every key is validated when the file is read, in the run's first step, before anything is
loaded: an unknown key, an invalid currency, a horizon that is not a positive number of
days or an unknown band name fails the account with one line naming the file, the key
and what is allowed (never later, after the fits).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError, field_validator

from clv_assets.lib.band_config import BandThresholds
from clv_assets.lib.prediction_config import HORIZONS
from clv_assets.lib.sources import Source
from clv_assets.stats.registry import SERVED_PURCHASE_MODELS

AUTO_MODEL = "auto"


def checked_model_name(value: str) -> str:
    """``value`` if it names a purchase model (with covariates or not) or ``auto``, else
    ValueError (a field validator)."""
    if value != AUTO_MODEL and value not in SERVED_PURCHASE_MODELS:
        raise ValueError(f"purchase model must be {AUTO_MODEL!r} or one of {list(SERVED_PURCHASE_MODELS)}, got {value!r}")
    return value


class InvalidAccountSettings(ValueError):
    """An account's settings file with a key or value that is not allowed (one line)."""


class AccountSettings(BaseModel):
    """The keys an account's ``_account.json`` may hold; every one is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="The account's currency, an ISO 4217 code such as 'EUR'; orders in any other "
        "currency are rejected as currency_mismatch. Default: the most common valid code in its orders.",
    )
    model: str | None = Field(
        default=None,
        description=f"The purchase model: {AUTO_MODEL!r} (the one its holdout backtest chose) or one of "
        f"{list(SERVED_PURCHASE_MODELS)} (those named *_covariates take the first order's channel and value, "
        "features.customer_covariates). Default: the run config's (models/purchase_model).",
    )
    refit_every_days: NonNegativeInt | None = Field(
        default=None,
        description="Days a fit is reused: a run whose stored fit (same model, fit settings and prior, "
        "diagnostics passed) is younger than this (its as_of fewer days before the run's) scores the "
        "stored draws instead of sampling; 0 refits every run. Default: the fits' run config (7).",
    )
    predictions: dict[Literal[HORIZONS], PositiveInt] | None = Field(  # type: ignore[valid-type]
        default=None,
        description=f"Horizon overrides in days, some of {list(HORIZONS)}, e.g. {{\"purchase_horizon_days\": 14}}.",
    )
    bands: dict[str, Any] | None = Field(
        default=None,
        description="Band cut-off overrides, some of the bands__thresholds run config's keys "
        "(docs/reference/config.md), e.g. {\"relative_cutoffs\": [0.4, 0.75, 1.33, 2.5]}.",
    )

    source: Source | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Where the orders come from (lib/sources.py): {\"kind\": \"landing\"} (default), "
        "\"table\" (database + table, or parquet glob), \"shopify_export\" (path glob) or \"postgres\" "
        "(env or service, table or query); each may map contract columns to its own names with \"columns\".",
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str | None) -> str | None:
        return value if value is None else checked_model_name(value)

    @field_validator("bands")
    @classmethod
    def _valid_bands(cls, value: dict | None) -> dict | None:
        if value is None:
            return value
        unknown = sorted(set(value) - set(BandThresholds.model_fields))
        if unknown:
            raise ValueError(f"unknown band thresholds {unknown}; allowed: {sorted(BandThresholds.model_fields)}")
        try:
            BandThresholds(**value)
        except ValidationError as exc:
            raise ValueError(_first_error(exc)) from None
        return value

    @classmethod
    def checked(cls, values: dict, source: str) -> AccountSettings:
        """The settings of ``values`` (a parsed file), or one line naming ``source`` and the key."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise InvalidAccountSettings(f"{source}: {_first_error(exc)}") from None

    def as_dict(self) -> dict:
        """The keys the file sets (what the assets read with ``.get``); ``source`` stays a model."""
        values = self.model_dump(exclude_none=True, exclude={"source"})
        return values | ({"source": self.source} if self.source is not None else {})


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"] if part != "[key]") or "(file)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown key; allowed: {list(AccountSettings.model_fields)}"
    elif error["type"] == "string_pattern_mismatch" and key == "currency":
        message = "must be a three-letter upper-case ISO 4217 code such as 'EUR'"
    elif error["type"] == "string_pattern_mismatch":
        # source names (tables, columns, environment variables) are written into SQL quoted
        message = "must be a plain name: letters, digits and '_' (a table may be schema.table)"
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"key {key!r}: {message} (got {shown})" if "input" in error and error["type"] != "extra_forbidden" else f"key {key!r}: {message}"
