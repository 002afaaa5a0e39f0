-- Distinct purchase histories of the account and how many customers share each: the
-- likelihood depends on a customer only through (frequency, recency, T).
SELECT frequency, recency, "T", count(*) AS n
FROM features.rfm
WHERE account = $account
GROUP BY ALL
ORDER BY ALL
