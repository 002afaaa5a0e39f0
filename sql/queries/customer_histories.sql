-- Distinct (frequency, recency, T, monetary_value) rows of the account: predictions are
-- computed once per row and joined back to its customers.
SELECT frequency, recency, "T", monetary_value, count(*) AS n
FROM features.rfm
WHERE account = $account
GROUP BY ALL
ORDER BY ALL
