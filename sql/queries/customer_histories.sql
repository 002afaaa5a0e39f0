-- Distinct (frequency, recency, T, monetary_value) rows of the account: predictions are
-- computed once per row and joined back to its customers. Ordered by (frequency, T)
-- first, the order in which predictions take them (models/predict.py, map_chunks).
SELECT frequency, recency, "T", monetary_value, count(*) AS n
FROM features.rfm
WHERE account = $account
GROUP BY ALL
ORDER BY frequency, "T", recency, monetary_value
