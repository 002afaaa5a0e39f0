"""Names shared across domains and entry points: asset keys and job names.

An asset defined in one ``defs/`` domain and read by another (as a dependency, a check
target or a job selection), or by the CLI, is named here once, so domains refer to each
other by key instead of importing each other's modules.
"""

import dagster as dg

RAW_ORDERS = dg.AssetKey(["raw", "orders"])
CUSTOMER_TRANSACTIONS = dg.AssetKey(["staging", "customer_transactions"])
RFM = dg.AssetKey(["features", "rfm"])
CUSTOMER_COVARIATES = dg.AssetKey(["features", "customer_covariates"])
PURCHASE_MODEL_FIT = dg.AssetKey(["models", "purchase_model"])
GAMMA_GAMMA_FIT = dg.AssetKey(["models", "gamma_gamma"])
EVALUATION = dg.AssetKey(["models", "evaluation"])
POOLED_PRIOR = dg.AssetKey(["models", "pooled_prior"])
CUSTOMER_PREDICTIONS = dg.AssetKey(["predictions", "customers"])
ACCOUNT_CHANNELS = dg.AssetKey(["predictions", "account_channels"])
CUSTOMER_CHANNELS = dg.AssetKey(["predictions", "customer_channels"])
CUSTOMER_BANDS = dg.AssetKey(["bands", "customers"])
CUSTOMER_PROFILE = dg.AssetKey(["marts", "customer_profile"])
CUSTOMER_SEGMENTS = dg.AssetKey(["marts", "customer_segments"])
PREDICTION_SNAPSHOTS = dg.AssetKey(["models", "prediction_snapshots"])
PREDICTION_AUDIT = dg.AssetKey(["marts", "prediction_audit"])

# the per-account freshness checks (defs/freshness/): judged on a schedule of their own,
# never inside an account run
LOADED_RECENTLY = dg.AssetCheckKey(RAW_ORDERS, "accounts_loaded_recently")
PREDICTED_RECENTLY = dg.AssetCheckKey(CUSTOMER_PREDICTIONS, "accounts_predicted_recently")
FRESHNESS_CHECKS = (LOADED_RECENTLY, PREDICTED_RECENTLY)

ACCOUNT_JOB = "clv_account_job"
EVALUATION_JOB = "clv_evaluation_job"
FRESHNESS_JOB = "account_freshness_job"

# The module Dagster loads the code location from (workspace.yaml, [tool.dagster] and
# [tool.dg] in pyproject.toml).
CODE_LOCATION_MODULE = "clv_assets.definitions"
