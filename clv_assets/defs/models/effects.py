"""models.fit_effects: what the covariates of the account's served purchase fit do, per
covariate level with 90% intervals, in the table and in the fit's UI metadata."""

import dagster as dg
import pandas as pd

from clv_assets.lib.warehouse import read_query, read_sql, replace_account_rows, run_sql, table_exists
from clv_assets.stats.purchase.bgnbd_covariates import covariate_levels, no_effects
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS
from clv_assets.stats.specs import CLVModel, Posterior

def write_fit_effects(conn, account: str, spec: CLVModel, posterior: Posterior, params: dict) -> pd.DataFrame | None:
    """Replace the account's models.fit_effects rows with ``spec``'s effects (none for a
    model without covariates, so no effects of an earlier covariate fit stay); the effects
    with their level in words, or None. Inside the fit's transaction."""
    effects = None
    if spec.name in COVARIATE_PURCHASE_MODELS:
        names = dict(run_sql(conn, read_query("covariate_channels_of_account"), {"account": account}).fetchall())
        effects = spec.effects(posterior.draws)
        effects["level"] = effects["covariate"].map(covariate_levels(names))
    conn.register("fit_effect_rows", no_effects() if effects is None else effects)
    replace_account_rows(conn, "models.fit_effects", account, read_sql("models.fit_effects"), params)
    return effects


def stored_fit_effects(conn, account: str) -> pd.DataFrame | None:
    """The account's stored effects (a reused fit's), as :func:`write_fit_effects` returns them."""
    if not table_exists(conn, "models.fit_effects"):
        return None
    stored = run_sql(conn, read_query("fit_effects_of_account"), {"account": account}).df()
    return stored if len(stored) else None


def fit_effects_metadata(effects: pd.DataFrame | None) -> dict:
    """The effects as a table in the fit's UI metadata (nothing without covariates)."""
    if effects is None:
        return {}
    shown = effects.set_index(["coefficient", "covariate"])[["level", "ratio", "ratio_low", "ratio_high"]]
    return {"covariate_effects": dg.MetadataValue.md(shown.round(3).to_markdown())}
