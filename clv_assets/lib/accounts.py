"""Merchant accounts: the partition key of every asset."""

from __future__ import annotations

import re

import dagster as dg

ACCOUNT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

accounts_partitions = dg.DynamicPartitionsDefinition(name="accounts")


class InvalidAccountError(ValueError):
    """An account name that is not a lowercase slug."""


def is_valid_account(name: str) -> bool:
    return ACCOUNT_PATTERN.fullmatch(name) is not None


def validate_account(name: str) -> str:
    """Return ``name`` if it is a valid account slug, else raise :class:`InvalidAccountError`."""
    if not is_valid_account(name):
        raise InvalidAccountError(
            f"invalid account name {name!r}: expected a lowercase slug matching "
            f"{ACCOUNT_PATTERN.pattern}"
        )
    return name
