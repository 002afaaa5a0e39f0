-- When the orders of each of $accounts were last loaded (accounts never loaded have no
-- row). raw.orders and raw.landing_files are written in one transaction with the same
-- loaded_at, so they agree; should they not, the older one counts, so a stale piece is
-- never hidden by a fresh one, and an account missing from either has no row.
SELECT account, least(orders.loaded_at, files.loaded_at) AS last_at
FROM (
    SELECT account, max(loaded_at) AS loaded_at FROM raw.orders
    WHERE list_contains(CAST($accounts AS VARCHAR[]), account) GROUP BY account
) AS orders
JOIN (
    SELECT account, max(loaded_at) AS loaded_at FROM raw.landing_files
    WHERE list_contains(CAST($accounts AS VARCHAR[]), account) GROUP BY account
) AS files USING (account)
