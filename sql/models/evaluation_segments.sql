-- models.evaluation_segments: one row per account x segment (segments.yaml, without the
-- grid), the segment lift measured in the holdout backtest: the segments as of the cutoff
-- (the production SQL on the calibration history and the chosen model's draws), what the
-- members and their comparison group did in the holdout, and member / comparison ratios
-- with 90% Poisson-bootstrap intervals (temp table evaluation_segment_lift; figures defined
-- in clv_assets/stats/evaluation.py, segment_lift).
SELECT
    CAST($account AS VARCHAR) AS account,
    segment,
    label,
    comparison_group,
    CAST($purchase_model AS VARCHAR) AS purchase_model,
    CAST($cutoff AS DATE) AS cutoff,
    CAST($holdout_end AS DATE) AS holdout_end,
    CAST($holdout_days AS INTEGER) AS holdout_days,
    CAST(members AS BIGINT) AS members,
    CAST(comparison_customers AS BIGINT) AS comparison_customers,
    member_share_ordered,
    member_mean_spend,
    comparison_share_ordered,
    comparison_mean_spend,
    order_rate_lift,
    order_rate_lift_p05,
    order_rate_lift_p95,
    spend_lift,
    spend_lift_p05,
    spend_lift_p95,
    CAST($evaluated_at AS TIMESTAMPTZ) AS evaluated_at
FROM evaluation_segment_lift
ORDER BY segment
