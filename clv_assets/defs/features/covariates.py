"""Per-customer covariates of the purchase models, from the first transaction day."""

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.keys import CUSTOMER_COVARIATES, RAW_ORDERS, RFM
from clv_assets.lib.sql_asset import materialize_sql_table
from clv_assets.lib.warehouse import run_sql
from clv_assets.stats.purchase.bgnbd_covariates import GRID_PARAMETERS

_AS_OF_SQL = "SELECT max(as_of) FROM features.rfm WHERE account = $account"


class CovariatesConfig(dg.Config):
    """How the first order's channel is pooled into covariate levels."""

    top_channels: int = Field(default=3, ge=1, le=8)
    """The account's most common first-order channels kept by name; the rest are 'other'."""


@dg.asset(
    key=CUSTOMER_COVARIATES,
    deps=[RFM, RAW_ORDERS],
    partitions_def=accounts_partitions,
    group_name="features",
    kinds={"duckdb"},
)
def customer_covariates(context: dg.AssetExecutionContext, config: CovariatesConfig, duckdb: DuckDBResource):
    """What each customer's first transaction day says about them, for the covariate models.

    One row per customer of features.rfm (same as_of): the first order's channel (the
    account's few most common, the rest pooled as 'other') and the first day's value
    (log, standardised within the account).
    """
    with duckdb.get_connection() as conn:  # the features' observation end
        (as_of,) = run_sql(conn, _AS_OF_SQL, {"account": validate_account(context.partition_key)}).fetchone()
    params = {"top_channels": config.top_channels, "as_of": as_of, **GRID_PARAMETERS}
    return materialize_sql_table(context, duckdb, "features.customer_covariates", params)
