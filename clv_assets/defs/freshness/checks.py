"""Per-account freshness: how long ago each account's orders were loaded and predicted.

Dagster's freshness policies judge an asset as a whole (its latest materialisation of
any partition), so one fresh account would hide a stale one. These checks read the
warehouse instead and judge every registered account partition on its own; an account
with a partition but no rows is stale too. They are not partitioned: one evaluation
covers all accounts, run every hour by ``account_freshness_schedule`` (schedules.py).
"""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from clv_assets import settings
from clv_assets.lib.accounts import accounts_partitions
from clv_assets.lib.keys import LOADED_RECENTLY, PREDICTED_RECENTLY
from clv_assets.lib.warehouse import read_query, run_sql, table_exists


class FreshnessConfig(dg.Config):
    """Run config of a freshness check (``ops.<check op>.config``)."""

    # None: the environment's limit (CLV_MAX_LOAD_AGE_HOURS / CLV_MAX_PREDICTION_AGE_HOURS), else 36
    max_age_hours: float | None = None


def account_ages(conn, query: str, table: str, accounts: list[str], now: datetime) -> pd.DataFrame:
    """Per account: the last time (``last_at``, NaT if never) and its age in hours.

    ``query`` names the lookup query (``sql/queries/<query>.sql``) returning ``account, last_at`` for the
    bound ``$accounts`` that have rows; when ``table`` does not exist yet none has.
    """
    found = (
        run_sql(conn, read_query(query), {"accounts": accounts}).df()
        if table_exists(conn, table)
        else pd.DataFrame({"account": [], "last_at": []})
    )
    frame = pd.DataFrame({"account": sorted(set(accounts))}).merge(found, on="account", how="left")
    frame["last_at"] = pd.to_datetime(frame["last_at"], utc=True)
    frame["age_hours"] = (pd.Timestamp(now) - frame["last_at"]).dt.total_seconds() / 3600.0
    return frame


def freshness_result(ages: pd.DataFrame, limit_hours: float, what: str) -> dg.AssetCheckResult:
    """Fails (ERROR) when any account's age exceeds ``limit_hours`` or it has no rows."""
    stale = ages[ages["age_hours"].isna() | (ages["age_hours"] > limit_hours)]
    stale_accounts = stale["account"].tolist()
    records = [
        dg.TableRecord(
            {
                "account": row.account,
                f"last_{what}_at": row.last_at.isoformat() if pd.notna(row.last_at) else "never",
                "age_hours": round(float(row.age_hours), 2) if pd.notna(row.age_hours) else None,
                "stale": row.account in stale_accounts,
            }
        )
        for row in ages.itertuples()
    ]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("account", "string"),
            dg.TableColumn(f"last_{what}_at", "string"),
            dg.TableColumn("age_hours", "float"),
            dg.TableColumn("stale", "bool"),
        ]
    )
    oldest = ages["age_hours"].max()
    return dg.AssetCheckResult(
        passed=not stale_accounts,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(stale_accounts)} of {len(ages)} account(s) {what} more than {limit_hours:g} h ago "
            f"or never: {', '.join(stale_accounts)}"
            if stale_accounts
            else f"all {len(ages)} account(s) {what} within {limit_hours:g} h"
        ),
        metadata={
            "stale_accounts": dg.MetadataValue.json(stale_accounts),
            "accounts": len(ages),
            "limit_hours": float(limit_hours),
            "oldest_age_hours": round(float(oldest), 2) if pd.notna(oldest) else None,
            "ages": dg.MetadataValue.table(records=records, schema=schema),
        },
    )


def _limit(configured: float | None, from_environment) -> float:
    if configured is None:
        return from_environment()
    if not configured > 0:
        raise dg.Failure(f"max_age_hours must be positive, got {configured}")
    return configured


def _freshness_check(key: dg.AssetCheckKey, what: str, query: str, table: str, limit_from_environment, description: str):
    @dg.asset_check(asset=key.asset_key, name=key.name, description=description)
    def _check(
        context: dg.AssetCheckExecutionContext, config: FreshnessConfig, duckdb: DuckDBResource
    ) -> dg.AssetCheckResult:
        limit = _limit(config.max_age_hours, limit_from_environment)
        accounts = context.instance.get_dynamic_partitions(accounts_partitions.name)
        with duckdb.get_connection() as conn:
            ages = account_ages(conn, query, table, accounts, datetime.now(UTC))
        return freshness_result(ages, limit, what)

    return _check


accounts_loaded_recently = _freshness_check(
    LOADED_RECENTLY,
    "loaded",
    "last_loads",
    "raw.orders",
    settings.max_load_age_hours,
    "Every account's orders were loaded within the limit (default 36 h, CLV_MAX_LOAD_AGE_HOURS). "
    "Metadata: each account's last load time and age, and the stale accounts by name.",
)
accounts_predicted_recently = _freshness_check(
    PREDICTED_RECENTLY,
    "predicted",
    "last_predictions",
    "predictions.customers",
    settings.max_prediction_age_hours,
    "Every account's customer predictions were computed within the limit (default 36 h, "
    "CLV_MAX_PREDICTION_AGE_HOURS). Metadata: each account's last prediction time and age, "
    "and the stale accounts by name.",
)
