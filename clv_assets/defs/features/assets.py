"""Clean customer transactions and RFM features, per account."""

from datetime import UTC, date, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import field_validator

from clv_assets.lib.accounts import accounts_partitions
from clv_assets.lib.sql_asset import materialize_sql_table


class AsOfConfig(dg.Config):
    """The observation end: orders after it are left out of the features."""

    as_of: str | None = None  # YYYY-MM-DD; default: today (UTC)

    @field_validator("as_of")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None:
            date.fromisoformat(value)
        return value

    def resolved(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else datetime.now(UTC).date()


@dg.asset(
    key=["staging", "customer_transactions"],
    deps=[dg.AssetKey(["raw", "orders"])],
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
    key=["features", "rfm"],
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
