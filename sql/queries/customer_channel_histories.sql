-- Each customer's channel history up to the account's as-of date (features.rfm.as_of), from
-- the channels of each day's orders: the orders per channel as a list of (channel, orders)
-- sorted by channel, and their total n. Orders without a channel are not counted; customers
-- without any such order are left out. Built once per run as a temporary table, so that the
-- concentration fit and predictions.customer_channels work per distinct history.
SELECT customer_id, list_sort(list({'channel': channel, 'orders': orders})) AS history, sum(orders) AS n
FROM (
    SELECT customer_id, channel, CAST(count(*) AS INTEGER) AS orders
    FROM (
        SELECT customer_id, unnest(channels) AS channel
        FROM staging.customer_transactions
        -- the as-of date as one value: a join to features.rfm per row costs 10x
        WHERE account = $account
          AND transaction_date <= (SELECT max(as_of) FROM features.rfm WHERE account = $account)
    )
    WHERE channel IS NOT NULL
    GROUP BY ALL
)
GROUP BY customer_id
