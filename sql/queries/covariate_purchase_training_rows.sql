-- Distinct (frequency, recency, T, covariate level) rows of the account and how many
-- customers share each: the likelihood of a covariate purchase model (bgnbd_covariates,
-- ...) depends on a customer only through their history and covariate level
-- (features.customer_covariates: the first order's channel rank and value level).
SELECT rfm.frequency, rfm.recency, rfm."T", cov.first_channel_rank, cov.first_order_value_level, count(*) AS n
FROM features.rfm AS rfm
LEFT JOIN features.customer_covariates AS cov
  ON cov.account = rfm.account AND cov.customer_id = rfm.customer_id AND cov.as_of = rfm.as_of
WHERE rfm.account = $account
GROUP BY ALL
ORDER BY ALL
