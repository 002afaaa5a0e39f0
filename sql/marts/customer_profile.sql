-- marts.customer_profile: one row per customer with every figure a marketer filters on:
-- history (features.rfm), predictions with 90% intervals (predictions.customers), bands
-- with their confidence (bands.customers) and the best channel
-- (predictions.customer_channels). Column descriptions: customer_profile.columns.yaml,
-- applied with COMMENT ON. Prediction columns are NULL for an account without a fit.
SELECT
    rfm.account,
    rfm.customer_id,
    rfm.as_of,
    rfm.first_order_date,
    rfm.last_order_date,
    rfm.order_count,
    rfm.frequency AS repeat_transactions,
    rfm.recency AS recency_days,
    rfm."T" AS customer_age_days,
    rfm.total_spend,
    rfm.total_spend / nullif(rfm.order_count, 0) AS historical_aov,
    rfm.avg_days_between_orders,
    rfm.top_channel,
    -- horizon_days, the predictions (models/predict.py's PREDICTION_COLUMNS, in its order)
    -- and expected_next_order_date: predictions.customers but for its keys and run details
    p.* EXCLUDE (account, customer_id, as_of, discount_rate, purchase_model,
                 purchase_model_fitted_at, gamma_gamma_fitted_at, predicted_at),
    b.frequency_band,
    b.spend_band,
    b.predicted_spend_band, b.predicted_spend_band_confidence,
    b.predicted_aov_band, b.predicted_aov_band_confidence,
    b.order_likelihood_band, b.order_likelihood_band_confidence,
    b.spend_tier, b.spend_tier_confidence,
    b.churn_band, b.churn_band_confidence,
    b.purchase_probability_band, b.purchase_probability_band_confidence,
    c.best_channel,
    c.best_channel_probability,
    p.predicted_at
FROM features.rfm AS rfm
JOIN bands.customers AS b ON b.account = rfm.account AND b.customer_id = rfm.customer_id
LEFT JOIN predictions.customers AS p ON p.account = rfm.account AND p.customer_id = rfm.customer_id
LEFT JOIN predictions.customer_channels AS c ON c.account = rfm.account AND c.customer_id = rfm.customer_id
WHERE rfm.account = $account
