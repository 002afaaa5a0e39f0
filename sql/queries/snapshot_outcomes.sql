-- The customers of one stored snapshot grouped by history (frequency, recency, T) and
-- group (bands, segments) as of its as_of, with their count, the sums of their
-- monetary_value and its square (all the audit's normal-mixture intervals need), and what
-- they did in the window (snapshot as_of, as_of + $days]: transactions (completed orders,
-- same-day orders merged: staging.customer_transactions), buyers and spend.
WITH window_orders AS (
    SELECT customer_id, count(*) AS orders, sum(amount) AS spend
    FROM staging.customer_transactions
    WHERE account = $account
      AND transaction_date > CAST($snapshot_as_of AS DATE)
      AND transaction_date <= CAST($snapshot_as_of AS DATE) + CAST($days AS INTEGER)
    GROUP BY customer_id
)
SELECT
    s.frequency, s.recency, s."T",
    s.order_likelihood_band, s.churn_band, s.spend_tier, s.purchase_probability_band,
    -- the segments as one text key (names joined by the unit separator, chr(31)): grouped
    -- and factorised as text, faster than as lists
    array_to_string(s.segments, chr(31)) AS segments_key,
    s.first_channel_rank, CAST(s.first_order_value_level AS DOUBLE) AS first_order_value_level,
    count(*) AS n,
    sum(CAST(s.monetary_value AS DOUBLE)) AS sum_m,
    sum(CAST(s.monetary_value AS DOUBLE) * CAST(s.monetary_value AS DOUBLE)) AS sum_m2,
    coalesce(sum(w.orders), 0) AS actual_orders,
    count(w.customer_id) AS actual_buyers,
    coalesce(sum(w.spend), 0) AS actual_spend
FROM models.prediction_snapshots AS s
LEFT JOIN window_orders AS w ON w.customer_id = s.customer_id
WHERE s.account = $account AND s.as_of = $snapshot_as_of
GROUP BY ALL
ORDER BY ALL
