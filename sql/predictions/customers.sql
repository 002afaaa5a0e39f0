-- predictions.customers: one row per customer of features.rfm, with the predictions of
-- its distinct history (temp table history_predictions) joined back; under a covariate
-- model the distinct rows are per history and covariate level (temp table
-- customer_levels: each customer's level; no rows, so NULL keys, without covariates).
-- Intervals (_p05, _p95) are equal-tailed 90% posterior intervals.
SELECT
    rfm.account,
    rfm.customer_id,
    rfm.as_of,
    CAST($horizon_days AS INTEGER) AS horizon_days,
    CAST($discount_rate AS DOUBLE) AS discount_rate,
    -- the predictions, listed once: models/predict.py's PREDICTION_COLUMNS, in its order
    -- (the history columns are the join keys)
    p.* EXCLUDE (frequency, recency, "T", monetary_value, n, days_to_next_order,
                 first_channel_rank, first_order_value_level, prediction_drivers),
    -- the day by which the probability of a next order reaches 50%; NULL beyond the horizon
    rfm.as_of + CAST(ceil(p.days_to_next_order) AS INTEGER) AS expected_next_order_date,
    CAST($purchase_model AS VARCHAR) AS purchase_model,
    CAST($purchase_model_fitted_at AS TIMESTAMPTZ) AS purchase_model_fitted_at,
    CAST($gamma_gamma_fitted_at AS TIMESTAMPTZ) AS gamma_gamma_fitted_at,
    CAST($predicted_at AS TIMESTAMPTZ) AS predicted_at,
    -- the horizons of purchase_probability and churn_probability
    CAST($purchase_horizon_days AS INTEGER) AS purchase_horizon_days,
    CAST($churn_horizon_days AS INTEGER) AS churn_horizon_days,
    -- added with the covariate models: what moves the prediction, in words
    CAST(p.prediction_drivers AS VARCHAR) AS prediction_drivers
FROM features.rfm AS rfm
LEFT JOIN customer_levels AS lv ON lv.customer_id = rfm.customer_id
JOIN history_predictions AS p
  ON p.frequency = rfm.frequency
 AND p.recency = rfm.recency
 AND p."T" = rfm."T"
 AND p.monetary_value = rfm.monetary_value
 AND p.first_channel_rank IS NOT DISTINCT FROM lv.first_channel_rank
 AND p.first_order_value_level IS NOT DISTINCT FROM lv.first_order_value_level
WHERE rfm.account = $account
