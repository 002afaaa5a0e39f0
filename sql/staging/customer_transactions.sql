-- staging.customer_transactions: completed orders, same-day orders of one customer merged
-- into one transaction (the BTYD convention). Not cut at the as-of date.
SELECT
    account,
    customer_id,
    order_date AS transaction_date,
    sum(amount) AS amount,
    count(*) AS n_orders,
    -- sorted by name: which channels, not in what order (an ordered aggregate costs 10x).
    -- Gathered as text, because DuckDB's list() state cannot spill to disk: at 10M
    -- customers list() ran out of memory where string_agg() spills. The separator is the
    -- ASCII unit separator; a channel name containing it has it read as a space.
    list_sort(string_split(string_agg(replace(channel, chr(31), ' '), chr(31)), chr(31))) AS channels
FROM raw.orders
WHERE account = $account
  AND status = 'completed'
GROUP BY account, customer_id, order_date
