-- staging.customer_transactions: completed orders, same-day orders of one customer merged
-- into one transaction (the BTYD convention). Not cut at the as-of date.
SELECT
    account,
    customer_id,
    order_date AS transaction_date,
    sum(amount) AS amount,
    count(*) AS n_orders,
    -- sorted by name: which channels, not in what order (an ordered aggregate costs 10x)
    list_sort(list(channel)) AS channels
FROM raw.orders
WHERE account = $account
  AND status = 'completed'
GROUP BY account, customer_id, order_date
