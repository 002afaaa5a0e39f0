-- features.rfm: one row per customer with a completed order on or before $as_of.
-- frequency = repeat transactions (transactions - 1); recency = days from first to last
-- transaction; T = days from first transaction to $as_of; monetary_value = mean value
-- of the repeat transactions (0 for customers without one: the Gamma-Gamma convention).
WITH tx AS NOT MATERIALIZED (  -- read twice, but cheaper to scan twice than to store
    SELECT *
    FROM staging.customer_transactions
    WHERE account = $account
      AND transaction_date <= CAST($as_of AS DATE)
),
channel_counts AS (
    SELECT customer_id, channel, count(*) AS n
    FROM (SELECT customer_id, unnest(channels) AS channel FROM tx)
    GROUP BY ALL
),
top_channel AS (
    SELECT customer_id, arg_max(channel, (n, channel)) AS top_channel  -- ties: last name
    FROM channel_counts
    GROUP BY customer_id
),
-- aggregated before the top channel is joined: joining every transaction costs 2x
per_customer AS (
SELECT
    CAST($account AS VARCHAR) AS account,
    tx.customer_id,
    CAST(count(*) - 1 AS INTEGER) AS frequency,
    CAST(date_diff('day', min(transaction_date), max(transaction_date)) AS INTEGER) AS recency,
    CAST(date_diff('day', min(transaction_date), CAST($as_of AS DATE)) AS INTEGER) AS "T",
    -- the repeat transactions are all but the first (one per day): no window sort needed
    CASE WHEN count(*) > 1
        THEN CAST((sum(amount) - arg_min(amount, transaction_date)) AS DOUBLE) / (count(*) - 1)
        ELSE 0
    END AS monetary_value,
    min(transaction_date) AS first_order_date,
    max(transaction_date) AS last_order_date,
    CAST(sum(n_orders) AS INTEGER) AS order_count,
    sum(amount) AS total_spend,
    CASE WHEN count(*) > 1
        THEN date_diff('day', min(transaction_date), max(transaction_date)) / (count(*) - 1)
    END AS avg_days_between_orders,
    CAST($as_of AS DATE) AS as_of
FROM tx
GROUP BY tx.customer_id
)
SELECT per_customer.* EXCLUDE (as_of), top_channel.top_channel, per_customer.as_of
FROM per_customer
LEFT JOIN top_channel USING (customer_id)
