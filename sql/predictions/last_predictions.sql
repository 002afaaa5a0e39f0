-- For each registered account ($accounts): when its customer predictions were last
-- computed. NULL = no predictions (the account is stale).
WITH accounts AS (
    SELECT DISTINCT unnest(CAST($accounts AS VARCHAR[])) AS account
),
predicted AS (
    SELECT account, max(predicted_at) AS predicted_at
    FROM predictions.customers
    WHERE account IN (SELECT account FROM accounts)
    GROUP BY account
)
SELECT accounts.account, predicted.predicted_at AS last_at
FROM accounts
LEFT JOIN predicted USING (account)
ORDER BY accounts.account
