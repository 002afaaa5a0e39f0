"""The cut-offs of every band: defaults, run config, and per-account overrides.

Defaults live here (listed in docs/reference/config.md, generated from this class). A run may change them
through the ``bands__thresholds`` op config, and an account may override any of them in
its landing folder's ``_account.json`` under ``"bands"``, e.g.
``{"bands": {"relative_cutoffs": [0.4, 0.75, 1.33, 2.5]}}``. The effective cut-offs of
each account are stored in ``bands.thresholds`` beside the account averages they apply to.
"""

from __future__ import annotations

from typing import Literal

import dagster as dg
from pydantic import ValidationError, model_validator

from clv_assets.stats.bands import PROBABILITY_LABELS, RELATIVE_LABELS


class BandThresholds(dg.Config):
    """Every band is (lower, upper]: a value equal to a cut-off falls in the band below it."""

    relative_cutoffs: list[float] = [0.5, 0.8, 1.25, 2.0]
    """Ratios to the account mean separating the five relative bands (spend, predicted
    spend, predicted AOV): <= 0.5 well below, <= 0.8 below, <= 1.25 average, <= 2 above."""
    probability_cutoffs_pct: list[int] = [25, 50, 75]
    """Whole-percent cut-offs of churn and purchase-probability bands: 0-25 Small,
    26-50 Medium, 51-75 High, 76-100 Very high (probabilities rounded to whole percent)."""
    order_likelihood_basis: Literal["relative", "absolute"] = "relative"
    """'relative' (default): order likelihood compares the customer's P(>= 1 order) and
    P(>= 2 orders) in the horizon with the account's average customer (the ratios below);
    'absolute': with the fixed probabilities likely_to_order and likely_to_order_multiple."""
    likely_to_order_ratio: float = 1.25
    """relative: 'Likely to order' from this multiple of the account's mean P(>= 1 order) up."""
    likely_to_order_multiple_ratio: float = 1.25
    """relative: 'Likely to order multiple times' from this multiple of the account's mean
    P(>= 2 orders) up."""
    likely_to_order: float = 0.5
    """absolute: 'Likely to order' from this P(>= 1 order in the horizon) up."""
    likely_to_order_multiple: float = 0.5
    """absolute: 'Likely to order multiple times' from this P(>= 2 orders in the horizon) up."""
    purchase_probability_basis: Literal["relative", "absolute"] = "relative"
    """'relative' (default): the purchase-probability band compares P(order within the
    purchase horizon) with the account mean (purchase_probability_ratios); 'absolute':
    whole percent against probability_cutoffs_pct, as the churn band."""
    purchase_probability_ratios: list[float] = [0.5, 1.0, 2.0]
    """relative: ratios to the account mean separating Small (<= half the average chance),
    Medium (<= average), High (<= twice the average) and Very high."""
    spend_tier_low_percentile: float = 0.3
    """'Low' spend tier: predicted spend at or below this account percentile ..."""
    spend_tier_nothing_below: float = 1.0
    """... or at or below this amount (predicted to spend nothing, in account currency)."""
    spend_tier_high_percentile: float = 0.8
    """'High' spend tier: predicted spend above this account percentile (the top 20%)."""

    @model_validator(mode="after")
    def _check(self) -> BandThresholds:
        if len(self.relative_cutoffs) != len(RELATIVE_LABELS) - 1:
            raise ValueError(f"relative_cutoffs needs {len(RELATIVE_LABELS) - 1} values")
        if len(self.probability_cutoffs_pct) != len(PROBABILITY_LABELS) - 1:
            raise ValueError(f"probability_cutoffs_pct needs {len(PROBABILITY_LABELS) - 1} values")
        if len(self.purchase_probability_ratios) != len(PROBABILITY_LABELS) - 1:
            raise ValueError(f"purchase_probability_ratios needs {len(PROBABILITY_LABELS) - 1} values")
        for name in ("relative_cutoffs", "probability_cutoffs_pct", "purchase_probability_ratios"):
            values = getattr(self, name)
            if list(values) != sorted(set(values)) or values[0] <= 0:
                raise ValueError(f"{name} must be positive and strictly increasing, got {values}")
        for name in ("likely_to_order", "likely_to_order_multiple", "spend_tier_low_percentile", "spend_tier_high_percentile"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("likely_to_order_ratio", "likely_to_order_multiple_ratio"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.spend_tier_low_percentile >= self.spend_tier_high_percentile:
            raise ValueError("spend_tier_low_percentile must be below spend_tier_high_percentile")
        return self

    def for_account(self, overrides: dict | None, source: str) -> BandThresholds:
        """These thresholds with an account's overrides applied; a clear error if invalid."""
        if not overrides:
            return self
        if not isinstance(overrides, dict):
            raise dg.Failure(f"{source}: 'bands' must be an object of threshold values", allow_retries=False)
        unknown = sorted(set(overrides) - set(type(self).model_fields))
        if unknown:
            raise dg.Failure(f"{source}: unknown band thresholds {unknown}", allow_retries=False)
        try:
            return type(self)(**{**self.model_dump(), **overrides})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise dg.Failure(f"{source}: invalid band thresholds: {first['msg']}", allow_retries=False) from None
