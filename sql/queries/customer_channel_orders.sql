-- Orders per customer and channel up to the account's as-of date (features.rfm.as_of),
-- from the channels of each day's orders. Orders without a channel are not counted.
SELECT t.customer_id, ch.channel, CAST(count(*) AS INTEGER) AS orders
FROM staging.customer_transactions AS t
JOIN features.rfm AS rfm ON rfm.account = t.account AND rfm.customer_id = t.customer_id,
     unnest(t.channels) AS ch(channel)
WHERE t.account = $account
  AND t.transaction_date <= rfm.as_of
  AND ch.channel IS NOT NULL
GROUP BY ALL
ORDER BY ALL
