-- models.prediction_snapshots: what this run predicted, per customer, kept (one snapshot
-- per account and as_of date, a re-run replacing its own) so that later runs can score it
-- against the orders that arrive (marts.prediction_audit). The history columns are what
-- the sub-horizon predictions are recomputed from, with the draws in
-- models.prediction_snapshot_draws. Compact types: a snapshot is kept for a year.
--
-- Each customer's segments travel to the join as one bit per segment (the account's segment
-- names in order; at most 64, lib/segments.py) and are spelled out after it: a list per
-- customer in the join's hash table made the query spill at 10M customers (50 s against 16).
WITH segment_bits AS (
    SELECT segment, CAST(row_number() OVER (ORDER BY segment) - 1 AS UTINYINT) AS bit
    FROM (SELECT DISTINCT segment FROM marts.customer_segments WHERE account = $account)
),
segment_names AS (
    SELECT coalesce(list(segment ORDER BY bit), []) AS names, count(*) AS n FROM segment_bits
),
memberships AS (
    SELECT m.customer_id, bit_or(CAST(1 AS UBIGINT) << b.bit) AS bits
    FROM marts.customer_segments AS m
    JOIN segment_bits AS b USING (segment)
    WHERE m.account = $account
    GROUP BY m.customer_id
),
combinations AS (  -- spelled out once per combination of segments, not per customer
    SELECT bits, list_transform(list_filter(range(names.n), i -> (bits >> i) & 1 = 1), i -> names.names[i + 1]) AS segments
    FROM (SELECT DISTINCT bits FROM memberships), segment_names AS names
)
SELECT
    p.account,
    p.as_of,
    CAST($run_id AS VARCHAR) AS run_id,
    CAST($purchase_model AS VARCHAR) AS purchase_model,
    CAST(p.horizon_days AS SMALLINT) AS horizon_days,
    CAST(p.purchase_horizon_days AS SMALLINT) AS purchase_horizon_days,
    CAST(p.churn_horizon_days AS SMALLINT) AS churn_horizon_days,
    p.customer_id,
    CAST(r.frequency AS SMALLINT) AS frequency,
    CAST(r.recency AS SMALLINT) AS recency,
    CAST(r."T" AS SMALLINT) AS "T",
    CAST(r.monetary_value AS FLOAT) AS monetary_value,
    CAST(p.purchase_probability AS FLOAT) AS purchase_probability,
    CAST(p.p_order AS FLOAT) AS p_order,
    CAST(p.expected_orders AS FLOAT) AS expected_orders,
    CAST(p.expected_orders_p05 AS FLOAT) AS expected_orders_p05,
    CAST(p.expected_orders_p95 AS FLOAT) AS expected_orders_p95,
    CAST(p.predicted_spend AS FLOAT) AS predicted_spend,
    CAST(p.predicted_spend_p05 AS FLOAT) AS predicted_spend_p05,
    CAST(p.predicted_spend_p95 AS FLOAT) AS predicted_spend_p95,
    CAST(p.churn_probability AS FLOAT) AS churn_probability,
    p.order_likelihood_band,
    p.churn_band,
    p.spend_tier,
    p.purchase_probability_band,
    -- the names in order, as list(DISTINCT segment ORDER BY segment) would give them
    coalesce(combinations.segments, []) AS segments,
    -- the covariate level a covariate model scored the customer at (NULL without covariates)
    CAST(CASE WHEN $covariates THEN c.first_channel_rank END AS TINYINT) AS first_channel_rank,
    CAST(CASE WHEN $covariates THEN c.first_order_value_level END AS FLOAT) AS first_order_value_level
FROM marts.customer_profile AS p
JOIN features.rfm AS r ON r.account = p.account AND r.customer_id = p.customer_id
LEFT JOIN memberships AS s ON s.customer_id = p.customer_id
LEFT JOIN combinations ON combinations.bits = s.bits
LEFT JOIN features.customer_covariates AS c
  ON $covariates AND c.account = r.account AND c.customer_id = r.customer_id AND c.as_of = r.as_of
WHERE p.account = $account
  AND p.expected_orders IS NOT NULL
