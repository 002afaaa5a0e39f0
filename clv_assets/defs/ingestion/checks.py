"""Checks on the raw layer: every landed row is accounted for."""

import dagster as dg
import duckdb

ROWS_CONSERVED = "rows_conserved"

_CONSERVATION_SQL = """
WITH landed AS (
    SELECT source_file, rows_landed FROM raw.landing_files WHERE account = $account
),
kept AS (
    SELECT source_file, count(*) AS n FROM raw.orders WHERE account = $account GROUP BY ALL
),
rejected AS (
    SELECT source_file, count(*) AS n FROM raw.rejected_orders WHERE account = $account GROUP BY ALL
)
SELECT
    landed.source_file,
    landed.rows_landed,
    coalesce(kept.n, 0) AS rows_kept,
    coalesce(rejected.n, 0) AS rows_rejected
FROM landed
LEFT JOIN kept USING (source_file)
LEFT JOIN rejected USING (source_file)
ORDER BY landed.source_file
"""


def raw_check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            ROWS_CONSERVED,
            asset=asset_key,
            blocking=True,
            description=(
                "For every landed file of the load: rows landed = rows in raw.orders + rows "
                "in raw.rejected_orders."
            ),
        )
    ]


def raw_check_results(conn: duckdb.DuckDBPyConnection, account: str, asset_key: dg.AssetKey):
    per_file = conn.execute(_CONSERVATION_SQL, {"account": account}).df()
    lost = per_file[per_file.rows_landed != per_file.rows_kept + per_file.rows_rejected]
    reasons = conn.execute(
        "SELECT reason, count(*) AS n FROM raw.rejected_orders WHERE account = $account "
        "GROUP BY reason ORDER BY n DESC, reason",
        {"account": account},
    ).fetchall()
    yield dg.AssetCheckResult(
        check_name=ROWS_CONSERVED,
        asset_key=asset_key,
        passed=lost.empty,
        metadata={
            "rows_landed": int(per_file.rows_landed.sum()),
            "rows_kept": int(per_file.rows_kept.sum()),
            "rows_rejected": int(per_file.rows_rejected.sum()),
            "rejected_by_reason": dg.MetadataValue.json(dict(reasons)),
            "files_out_of_balance": dg.MetadataValue.md(lost.to_markdown(index=False)) if not lost.empty else "none",
        },
    )
