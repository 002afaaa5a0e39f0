-- customer_histories.sql with each customer's covariate level (features.customer_covariates,
-- same as_of): the distinct rows a covariate purchase model's predictions are computed on,
-- joined back to customers on the history and the level (sql/predictions/customers.sql).
SELECT
    rfm.frequency, rfm.recency, rfm."T", rfm.monetary_value,
    cov.first_channel_rank, cov.first_order_value_level, count(*) AS n
FROM features.rfm AS rfm
LEFT JOIN features.customer_covariates AS cov
  ON cov.account = rfm.account AND cov.customer_id = rfm.customer_id AND cov.as_of = rfm.as_of
WHERE rfm.account = $account
GROUP BY ALL
ORDER BY rfm.frequency, rfm."T", rfm.recency, rfm.monetary_value, cov.first_channel_rank, cov.first_order_value_level
