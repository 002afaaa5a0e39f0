"""Every model the graph fits, by name: the one place a model is listed.

Importing this module loads numpy and scipy only; PyMC loads when a model is built.
"""

from __future__ import annotations

from collections.abc import Mapping

from clv_assets.stats.gamma_gamma import GAMMA_GAMMA
from clv_assets.stats.purchase.bgnbd import BGNBD
from clv_assets.stats.purchase.bgnbd_covariates import BGNBD_COVARIATES, MBGNBD_COVARIATES, PARETO_NBD_COVARIATES
from clv_assets.stats.purchase.mbgnbd import MBGNBD
from clv_assets.stats.purchase.pareto_nbd import PARETO_NBD
from clv_assets.stats.specs import CLVModel, PurchaseModel

# the purchase models an account can use; the holdout evaluation compares them all
PURCHASE_MODELS: Mapping[str, PurchaseModel] = {model.name: model for model in (BGNBD, MBGNBD, PARETO_NBD)}
DEFAULT_PURCHASE_MODEL = BGNBD.name
# purchase models whose rows carry per-customer covariates (features.customer_covariates)
# beside the history: not in PURCHASE_MODELS, whose paths (backtest candidates by default,
# pooled prior, the registry's tests) read histories only; the model choice takes one only
# where it beats its base model
COVARIATE_PURCHASE_MODELS = {model.name: model for model in (BGNBD_COVARIATES, MBGNBD_COVARIATES, PARETO_NBD_COVARIATES)}
# every purchase model the account's fit may fit and its predictions serve
SERVED_PURCHASE_MODELS: Mapping[str, CLVModel] = {**PURCHASE_MODELS, **COVARIATE_PURCHASE_MODELS}
# every model fitted, the purchase models and the spend model
MODELS: Mapping[str, CLVModel] = {**PURCHASE_MODELS, GAMMA_GAMMA.name: GAMMA_GAMMA}

__all__ = [
    "COVARIATE_PURCHASE_MODELS", "DEFAULT_PURCHASE_MODEL", "GAMMA_GAMMA", "MODELS", "PURCHASE_MODELS", "SERVED_PURCHASE_MODELS",
]
