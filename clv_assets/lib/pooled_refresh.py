"""When ``models/pooled_prior`` is due to be learnt again, and which accounts wait for it.

One rule for both triggers: ``pooled_prior_sensor`` (``defs/models/pooled.py``, under the
daemon) and ``clv-assets materialize`` (``clv_assets/account_runner.py``), which refreshes
the prior after its account runs and runs again the accounts that were waiting for it.

The prior is due when ``POOLED_REFRESH_NEW_FITS`` accounts have an own-prior fit newer than
the stored prior or, before the first prior, when ``MIN_POOLED_ACCOUNTS`` accounts are
fitted: the prior changes little when one account is refitted.
"""

from __future__ import annotations

from clv_assets.lib.eligibility import too_small_to_pool
from clv_assets.lib.warehouse import read_query, run_sql, table_exists

MIN_POOLED_ACCOUNTS = 3  # fewer fitted accounts: no pooled prior is used
POOLED_REFRESH_NEW_FITS = 3  # accounts with a newer own-prior fit that trigger a refresh
PRIOR_TABLES = ("models.fits", "models.fit_status", "models.posterior_draws")


def ensure_prior_columns(conn) -> None:
    """Warehouses from before the pooled prior lack the ``prior`` column: every fit there used its own prior."""
    for table in PRIOR_TABLES:
        if table_exists(conn, table):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS prior VARCHAR")


def pooled_prior_refresh_due(conn) -> tuple[bool, str]:
    """Whether the pooled prior is due to be learnt (again), and why (or why not)."""
    if not table_exists(conn, "models.posterior_draws"):
        return False, "no account is fitted yet"
    ensure_prior_columns(conn)
    learnt_at = None
    if table_exists(conn, "models.pooled_prior"):
        learnt_at = conn.execute("SELECT max(fitted_at) FROM models.pooled_prior").fetchone()[0]
    n_fitted, n_new = run_sql(conn, read_query("pooled_prior_staleness"), {"learnt_at": learnt_at}).fetchone()
    needed = MIN_POOLED_ACCOUNTS if learnt_at is None else POOLED_REFRESH_NEW_FITS
    due = n_fitted >= MIN_POOLED_ACCOUNTS and n_new >= needed
    return due, f"{n_new} account(s) with new fits of {n_fitted} fitted; a refresh needs {needed}"


def accounts_waiting_for_pooled_prior(
    conn, accounts: list[str], min_customers_pooled: int, min_repeat_buyers_pooled: int
) -> list[str]:
    """Of ``accounts``, those left unfitted for want of a pooled prior: too small for their
    own fit, not too small for the pooled prior (the fits' thresholds of that name)."""
    if not table_exists(conn, "models.fit_status"):
        return []
    rows = run_sql(conn, read_query("ineligible_accounts"), {"accounts": list(accounts)}).df()
    return [
        row["account"]
        for row in rows.to_dict("records")
        if too_small_to_pool(row, min_customers_pooled, min_repeat_buyers_pooled) is None
    ]
