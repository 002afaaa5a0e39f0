-- models.evaluation: one row per account x candidate model, the holdout scorecard
-- (temp table evaluation_scores; figures defined in clv_assets/stats/evaluation.py).
SELECT
    CAST($account AS VARCHAR) AS account,
    model,
    method,
    CAST($cutoff AS DATE) AS cutoff,
    CAST($cutoff AS DATE) + 1 AS holdout_start,
    CAST($holdout_end AS DATE) AS holdout_end,
    CAST($holdout_days AS INTEGER) AS holdout_days,
    CAST(n_customers AS BIGINT) AS n_customers,
    actual_repeat_orders,
    predicted_repeat_orders,
    aggregate_error_pct,
    tracking_error_pct,
    mae_orders,
    rmse_orders,
    brier_p_order,
    observed_share_ordering,
    auc_top_decile_spend,
    gini_spend,
    auc_one_time_repeat,
    interval_coverage,
    interval_expected_coverage,
    mean_interval_width,
    parameters,
    CAST(max_r_hat AS DOUBLE) AS max_r_hat,  -- NULL for a Laplace or MAP fit: typed all the same
    CAST(n_draws AS INTEGER) AS n_draws,
    fit_seconds,
    CAST($evaluated_at AS TIMESTAMPTZ) AS evaluated_at
FROM evaluation_scores
ORDER BY model
