"""The channel each customer is most likely to convert through."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from clv_assets.lib.accounts import accounts_partitions, validate_account
from clv_assets.lib.keys import ACCOUNT_CHANNELS, CUSTOMER_CHANNELS, RFM
from clv_assets.lib.warehouse import partition_metadata, read_query, read_sql, replace_account_rows, run_sql, transaction
from clv_assets.stats.channels import channel_mix, fit_concentration


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ACCOUNT_CHANNELS,
            deps=[RFM],
            description=(
                "The account's channel mix (share of orders per channel) and how strongly "
                "customers stick to their own channels (the concentration of the prior)."
            ),
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            CUSTOMER_CHANNELS,
            deps=[RFM],
            description=(
                "Per customer, the channel the next order is most likely to come through "
                "(best_channel) and that probability: the customer's own channel history "
                "shrunk toward the account mix (Dirichlet-multinomial posterior), so one "
                "order through SMS does not make a customer an SMS customer."
            ),
            kinds={"duckdb"},
        ),
    ],
    partitions_def=accounts_partitions,
    group_name="predictions",
)
def customer_channels(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    account = validate_account(context.partition_key)
    params = {"account": account}
    # one connection throughout: the concentration fit works on the distinct histories
    # (thousands of rows) and takes milliseconds, so the lock is not held for long
    with duckdb.get_connection() as conn:
        run_sql(conn, f"CREATE OR REPLACE TEMP TABLE customer_channel_histories AS {read_query('customer_channel_histories')}", params)
        histories = run_sql(conn, read_query("distinct_channel_histories")).df()
        ((as_of,),) = run_sql(conn, "SELECT max(as_of) FROM features.rfm WHERE account = $account", params).fetchall()
        mix = channel_mix(histories)
        concentration = fit_concentration(histories, mix)
        context.log.info(
            f"{account}: {len(mix)} channels, {histories['history_id'].nunique()} distinct channel histories, "
            f"concentration {concentration:.3g}"
        )
        params = {**params, "concentration": concentration, "as_of": as_of}
        conn.register("channel_mix", mix)
        with transaction(conn):
            replace_account_rows(conn, "predictions.account_channels", account, read_sql("predictions.account_channels"), params)
            replace_account_rows(conn, "predictions.customer_channels", account, read_sql("predictions.customer_channels"), params)
        for key in (ACCOUNT_CHANNELS, CUSTOMER_CHANNELS):
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    **partition_metadata(conn, ".".join(key.path), account),
                    "concentration": float(concentration),
                },
            )
