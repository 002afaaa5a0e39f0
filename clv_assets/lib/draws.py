"""Stored posterior draws, read back for predictions and band confidence."""

from __future__ import annotations

import dagster as dg
import numpy as np

from clv_assets.lib.warehouse import read_query, run_sql
from clv_assets.stats.registry import GAMMA_GAMMA, SERVED_PURCHASE_MODELS


def load_draws(conn, account: str, model: str, n_draws: int) -> tuple[dict[str, np.ndarray], object]:
    """At most ``n_draws`` stored draws of ``model`` (evenly thinned) and their fit time; a
    covariate model's coefficients as (draws, covariates) arrays."""
    long = run_sql(conn, read_query("posterior_draws_of_model"), {"account": account, "model": model}).df()
    if long.empty:
        raise dg.Failure(f"no stored posterior draws of {model} for account {account!r}")
    wide = long.pivot(index=["chain", "draw"], columns="parameter", values="value").sort_index()
    index = np.unique(np.linspace(0, len(wide) - 1, min(n_draws, len(wide))).round().astype(int))
    draws = {name: wide[name].to_numpy(float)[index] for name in wide.columns}
    spec = SERVED_PURCHASE_MODELS.get(model, GAMMA_GAMMA)
    return spec.vector_draws(draws), long["fitted_at"].max()
