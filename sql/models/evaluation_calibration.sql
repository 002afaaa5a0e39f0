-- models.evaluation_calibration: account x model x decile of predicted P(at least one
-- holdout order) (1 = lowest): mean prediction vs share of customers who ordered.
SELECT
    CAST($account AS VARCHAR) AS account,
    model,
    CAST(decile AS INTEGER) AS decile,
    CAST(n_customers AS BIGINT) AS n_customers,
    predicted_p_order,
    observed_share,
    CAST($cutoff AS DATE) AS cutoff,
    CAST($evaluated_at AS TIMESTAMPTZ) AS evaluated_at
FROM evaluation_deciles
ORDER BY model, decile
