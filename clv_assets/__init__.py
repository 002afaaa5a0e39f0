"""clv_assets: customer lifetime value predictions as a Dagster asset graph on DuckDB."""
