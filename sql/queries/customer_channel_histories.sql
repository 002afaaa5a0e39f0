-- Each customer's channel history up to the account's as-of date (features.rfm.as_of), from
-- the channels of each day's orders: the orders per channel as a list of (channel, orders)
-- sorted by channel, and their total n. Orders without a channel are not counted; customers
-- without any such order are left out. Built once per run as a temporary table, so that the
-- concentration fit and predictions.customer_channels work per distinct history.
SELECT customer_id, list_sort(list({'channel': channel, 'orders': orders})) AS history, sum(orders) AS n
FROM (
    SELECT t.customer_id, ch.channel, CAST(count(*) AS INTEGER) AS orders
    FROM staging.customer_transactions AS t
    JOIN features.rfm AS rfm ON rfm.account = t.account AND rfm.customer_id = t.customer_id,
         unnest(t.channels) AS ch(channel)
    WHERE t.account = $account
      AND t.transaction_date <= rfm.as_of
      AND ch.channel IS NOT NULL
    GROUP BY ALL
)
GROUP BY customer_id
