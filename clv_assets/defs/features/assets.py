"""Clean customer transactions and RFM features, per account."""

from datetime import UTC, date, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import field_validator

from clv_assets.lib.accounts import accounts_partitions
from clv_assets.lib.config import checked_iso_date, iso_date
from clv_assets.lib.keys import CUSTOMER_TRANSACTIONS, RAW_ORDERS, RFM
from clv_assets.lib.sql_asset import materialize_sql_table


class AsOfConfig(dg.Config):
    """The observation end: orders after it are left out of the features."""

    as_of: str | None = None  # YYYY-MM-DD; default: today (UTC)

    _as_of = field_validator("as_of")(checked_iso_date)

    def resolved(self) -> date:
        return iso_date(self.as_of) or datetime.now(UTC).date()


@dg.asset(
    key=CUSTOMER_TRANSACTIONS,
    deps=[RAW_ORDERS],
    partitions_def=accounts_partitions,
    group_name="features",
    kinds={"duckdb"},
)
def customer_transactions(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """Each customer's completed purchases, one transaction per customer and day.

    Same-day orders merge into one transaction (the buy-till-you-die convention), with
    the day's total amount, number of orders and the channels they came through.
    Cancelled and refunded orders are left out.
    """
    return materialize_sql_table(context, duckdb, "staging.customer_transactions")


@dg.asset(
    key=RFM,
    deps=[customer_transactions],
    partitions_def=accounts_partitions,
    group_name="features",
    kinds={"duckdb"},
)
def rfm(context: dg.AssetExecutionContext, config: AsOfConfig, duckdb: DuckDBResource):
    """Recency-frequency-monetary summary of every customer as of the observation end.

    The inputs of the BG/NBD and Gamma-Gamma models (frequency = repeat purchases,
    recency and T in days, monetary_value = mean repeat purchase) plus the descriptive
    facts a marketer reads: first and last order, order count, total spend, average days
    between orders and the customer's most used channel.
    """
    as_of = config.resolved()
    context.add_output_metadata({"as_of": as_of.isoformat()})
    return materialize_sql_table(context, duckdb, "features.rfm", {"as_of": as_of})
