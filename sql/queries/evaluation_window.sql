-- The account's observed window of clean transactions: the default backtest holds out
-- its last third.
SELECT
    min(transaction_date) AS first_date,
    max(transaction_date) AS last_date,
    count(*) AS n_transactions
FROM staging.customer_transactions
WHERE account = $account
