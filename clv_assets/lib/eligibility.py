"""When an account has too little data to fit (or backtest) a model."""

from __future__ import annotations


def ineligibility_reason(facts: dict, min_customers: int, min_repeat_buyers: int) -> str | None:
    """Why an account is not fitted, or None when it has enough data.

    ``facts`` holds the account's ``n_customers`` and ``n_repeat_buyers``.
    """
    if facts["n_customers"] < min_customers:
        return f"{facts['n_customers']} customers < min_customers {min_customers}"
    if facts["n_repeat_buyers"] < min_repeat_buyers:
        return f"{facts['n_repeat_buyers']} repeat buyers < min_repeat_buyers {min_repeat_buyers}"
    return None


def too_small_to_pool(facts: dict, min_customers_pooled: int, min_repeat_buyers_pooled: int) -> str | None:
    """Why an account is too small even for the pooled prior, or None when it may use it."""
    if facts["n_customers"] < min_customers_pooled:
        return f"{facts['n_customers']} customers < min_customers_pooled {min_customers_pooled}"
    if facts["n_repeat_buyers"] < min_repeat_buyers_pooled:
        return f"{facts['n_repeat_buyers']} repeat buyers < min_repeat_buyers_pooled {min_repeat_buyers_pooled}"
    return None
