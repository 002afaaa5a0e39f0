-- The customers of one stored snapshot with their histories, groups and what they did in
-- the window (snapshot as_of, as_of + $days]: transactions (completed orders, same-day
-- orders merged: staging.customer_transactions) and their spend.
SELECT
    s.customer_id, s.frequency, s.recency, s."T", s.monetary_value,
    s.order_likelihood_band, s.churn_band, s.spend_tier, s.purchase_probability_band, s.segments,
    count(t.transaction_date) AS actual_orders,
    coalesce(sum(t.amount), 0) AS actual_spend
FROM models.prediction_snapshots AS s
LEFT JOIN staging.customer_transactions AS t
  ON t.account = s.account
 AND t.customer_id = s.customer_id
 AND t.transaction_date > s.as_of
 AND t.transaction_date <= s.as_of + CAST($days AS INTEGER)
WHERE s.account = $account AND s.as_of = $snapshot_as_of
GROUP BY ALL
ORDER BY s.customer_id
