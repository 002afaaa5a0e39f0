-- Each customer's covariate level (features.customer_covariates for features.rfm's as_of):
-- the key, beside the history, that joins a covariate model's predictions per distinct row
-- back to customers (temp table customer_levels; sql/predictions/customers.sql,
-- sql/bands/customers.sql).
SELECT cov.customer_id, cov.first_channel_rank, cov.first_order_value_level
FROM features.customer_covariates AS cov
JOIN features.rfm AS rfm
  ON rfm.account = cov.account AND rfm.customer_id = cov.customer_id AND rfm.as_of = cov.as_of
WHERE cov.account = $account
