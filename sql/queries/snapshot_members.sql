-- The customers of one stored snapshot in the audit's small groups (the band values and
-- segments given), one row each with its history: the audit simulates these groups'
-- totals customer by customer.
SELECT
    s.customer_id, s.frequency, s.recency, s."T", CAST(s.monetary_value AS DOUBLE) AS monetary_value,
    s.order_likelihood_band, s.churn_band, s.spend_tier, s.purchase_probability_band,
    -- the segments as one text key (names joined by the unit separator, chr(31)): grouped
    -- and factorised as text, faster than as lists
    array_to_string(s.segments, chr(31)) AS segments_key,
    s.first_channel_rank, CAST(s.first_order_value_level AS DOUBLE) AS first_order_value_level
FROM models.prediction_snapshots AS s
WHERE s.account = $account AND s.as_of = $snapshot_as_of
  AND ($everyone
       OR list_contains($order_likelihood_band, s.order_likelihood_band)
       OR list_contains($churn_band, s.churn_band)
       OR list_contains($spend_tier, s.spend_tier)
       OR list_contains($purchase_probability_band, s.purchase_probability_band)
       OR len(list_intersect(s.segments, $segments)) > 0)
ORDER BY s.customer_id
