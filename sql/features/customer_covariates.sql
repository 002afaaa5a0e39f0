-- features.customer_covariates: one row per customer of features.rfm as of $as_of (the asset: the stored features.rfm's as_of; the backtest: its cutoff), with
-- what their first transaction day says about them: the channel of the day's first
-- completed order (the account's $top_channels most common first-order channels by name,
-- the rest pooled as 'other'), and the day's value (log(1 + amount), standardised within
-- the account). The input carries no discount or customer-attribute column, so none is
-- derived here.
WITH customers AS (  -- features.rfm's customers as of $as_of: a completed order by then
    SELECT customer_id, min(order_date) AS first_order_date, CAST($as_of AS DATE) AS as_of
    FROM raw.orders
    WHERE account = $account AND status = 'completed' AND order_date <= CAST($as_of AS DATE)
    GROUP BY customer_id
),
first_day AS (
    SELECT o.customer_id, o.channel, o.amount, o.ordered_at, o.order_id
    FROM raw.orders AS o
    JOIN customers AS c ON o.customer_id = c.customer_id AND o.order_date = c.first_order_date
    WHERE o.account = $account AND o.status = 'completed'
),
first_order AS (
    SELECT
        customer_id,
        arg_min(channel, (ordered_at, order_id)) AS channel,
        CAST(sum(amount) AS DOUBLE) AS first_order_value
    FROM first_day
    GROUP BY customer_id
),
ranked AS (  -- ties: alphabetical
    SELECT channel, row_number() OVER (ORDER BY count(*) DESC, channel) AS channel_rank
    FROM first_order
    GROUP BY channel
),
valued AS (
    SELECT f.*, r.channel_rank, ln(1 + f.first_order_value) AS log_value
    FROM first_order AS f
    JOIN ranked AS r USING (channel)
)
SELECT
    CAST($account AS VARCHAR) AS account,
    c.customer_id,
    CASE WHEN v.channel_rank <= $top_channels THEN v.channel ELSE 'other' END AS first_channel,
    CAST(least(v.channel_rank, $top_channels + 1) AS INTEGER) AS first_channel_rank,
    v.first_order_value,
    coalesce(
        (v.log_value - avg(v.log_value) OVER ()) / nullif(stddev_pop(v.log_value) OVER (), 0), 0
    ) AS first_order_value_z,
    c.as_of,
    -- the covariate models' value level: few levels keep their distinct rows few; bound
    -- from stats/purchase/bgnbd_covariates.py (VALUE_STEP, VALUE_LIMIT), rounded here once
    round(least(greatest(first_order_value_z, -$value_limit), $value_limit) / $value_step) * $value_step + 0.0  -- no -0.0
        AS first_order_value_level
FROM customers AS c
JOIN valued AS v USING (customer_id)
