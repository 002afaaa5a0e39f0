-- When the customer predictions of each of $accounts were last computed (accounts
-- without predictions have no row).
SELECT account, max(predicted_at) AS last_at
FROM predictions.customers
WHERE list_contains(CAST($accounts AS VARCHAR[]), account)
GROUP BY account
