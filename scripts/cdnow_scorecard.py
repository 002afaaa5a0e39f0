"""Print the CDNOW holdout scorecard of every candidate model (README "How good are the predictions").

Usage: .venv/bin/python scripts/cdnow_scorecard.py [--method METHOD] [--cdnow PATH]

Lands the CDNOW 1/10 sample in a temporary landing folder, DuckDB file and Dagster
instance, materialises models/evaluation with calibration weeks 1-39 (to 1997-09-30) and
holdout weeks 40-78 (to 1998-06-30), and prints models.evaluation, models.model_choice and models.evaluation_segments.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from clv_assets.lib.run_config import FIT_METHODS

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "cdnow-sample"
LIFT_FIGURES = [
    "members", "comparison_customers", "member_share_ordered", "comparison_share_ordered",
    "order_rate_lift", "order_rate_lift_p05", "order_rate_lift_p95",
    "member_mean_spend", "comparison_mean_spend", "spend_lift", "spend_lift_p05", "spend_lift_p95",
]
FIGURES = [
    "method", "actual_repeat_orders", "predicted_repeat_orders", "aggregate_error_pct", "tracking_error_pct", "mae_orders", "rmse_orders",
    "brier_p_order", "auc_top_decile_spend", "gini_spend", "interval_coverage", "interval_expected_coverage",
    "mean_interval_width", "parameters", "fit_seconds",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="auto", choices=FIT_METHODS)
    parser.add_argument("--cdnow", type=Path, default=ROOT / "clv_assets_tests" / "fixtures" / "cdnow" / "CDNOW_sample.txt")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
        (root / "dagster_home").mkdir()
        import dagster as dg
        import pandas as pd

        from clv_assets.cdnow import cdnow_orders, evaluation_run_config, materialize_backtest
        from clv_assets.lib.resources import warehouse_resource

        (root / "landing" / ACCOUNT).mkdir(parents=True)
        cdnow_orders(args.cdnow).to_csv(root / "landing" / ACCOUNT / "cdnow.csv", index=False)
        warehouse = root / "warehouse.duckdb"
        started = time.perf_counter()
        result = materialize_backtest(
            ACCOUNT, root / "landing", warehouse, dg.DagsterInstance.get(),
            evaluation_run_config(method=args.method),
        )
        if not result.success:
            print("backtest run failed", file=sys.stderr)
            return 1
        with warehouse_resource(warehouse).get_connection() as conn:
            scores = conn.execute("SELECT * FROM models.evaluation WHERE account = $a ORDER BY model", {"a": ACCOUNT}).df()
            choice = conn.execute("SELECT * FROM models.model_choice WHERE account = $a", {"a": ACCOUNT}).df()
            lift = conn.execute("SELECT * FROM models.evaluation_segments WHERE account = $a ORDER BY segment", {"a": ACCOUNT}).df()
            window = scores.iloc[0]
        pd.set_option("display.width", 200, "display.max_colwidth", 80)
        print(f"CDNOW 1/10 sample: {int(window.n_customers)} customers, calibration to {window.cutoff.date()}, "
              f"holdout {window.holdout_start.date()} .. {window.holdout_end.date()} ({window.holdout_days} days); "
              f"run {time.perf_counter() - started:.0f} s\n")
        print(scores.set_index("model")[FIGURES].T.to_markdown())
        print(f"\nmodel: auto -> {choice.chosen_model[0]} ({choice.score_name[0]} = {choice.score[0]:.4f}): {choice.reason[0]}")
        print(f"\nsegment lift (models.evaluation_segments; segments as of the cutoff, {lift.purchase_model[0]}):")
        print(lift.set_index("segment")[LIFT_FIGURES].round(3).to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
