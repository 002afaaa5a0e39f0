-- The account's first-order channels by covariate rank (features.customer_covariates):
-- what channel_2, channel_3 and channel_other mean for it, in words.
SELECT first_channel_rank, min(first_channel) AS first_channel
FROM features.customer_covariates
WHERE account = $account
GROUP BY first_channel_rank
ORDER BY first_channel_rank
