-- The distinct channel histories of the temporary table customer_channel_histories, with
-- how many customers share each, one row per (history, channel): what the channel mix and
-- the concentration fit need, at a size that grows with distinct histories, not customers.
WITH histories AS (
    SELECT history, count(*) AS customers
    FROM customer_channel_histories
    GROUP BY history
),
numbered AS (
    SELECT row_number() OVER (ORDER BY customers DESC, history) AS history_id, history, customers
    FROM histories
)
SELECT history_id, entry.channel AS channel, entry.orders AS orders, customers
FROM numbered, unnest(history) AS h(entry)
ORDER BY history_id, channel
