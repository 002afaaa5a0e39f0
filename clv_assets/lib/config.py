"""Validation shared by run configs."""

from __future__ import annotations

from datetime import date


def checked_iso_date(value: str | None) -> str | None:
    """``value`` unchanged if None or a YYYY-MM-DD date, else ValueError (a field validator)."""
    iso_date(value)
    return value


def iso_date(value: str | None) -> date | None:
    """The date of a YYYY-MM-DD config value; None when unset."""
    return None if value is None else date.fromisoformat(value)
