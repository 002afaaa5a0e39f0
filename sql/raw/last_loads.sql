-- For each registered account ($accounts): when its orders were last loaded and how many
-- hours before $now. raw.orders and raw.landing_files are written in one transaction with
-- the same loaded_at, so they agree; should they not, the older one counts, so a stale
-- piece is never hidden by a fresh one. NULL = never loaded (the account is stale).
WITH accounts AS (
    SELECT DISTINCT unnest(CAST($accounts AS VARCHAR[])) AS account
),
orders AS (
    SELECT account, max(loaded_at) AS loaded_at
    FROM raw.orders
    WHERE account IN (SELECT account FROM accounts)
    GROUP BY account
),
files AS (
    SELECT account, max(loaded_at) AS loaded_at
    FROM raw.landing_files
    WHERE account IN (SELECT account FROM accounts)
    GROUP BY account
)
SELECT
    accounts.account,
    CASE WHEN orders.loaded_at IS NOT NULL AND files.loaded_at IS NOT NULL
         THEN least(orders.loaded_at, files.loaded_at) END AS last_at
FROM accounts
LEFT JOIN orders USING (account)
LEFT JOIN files USING (account)
ORDER BY accounts.account
