-- One row per day of the backtest window ($start .. $holdout_end) for the calibration
-- cohort: customers acquired that day and repeat transactions that day (the tracking plot).
WITH tx AS (
    SELECT
        transaction_date,
        row_number() OVER (PARTITION BY customer_id ORDER BY transaction_date) AS seq,
        min(transaction_date) OVER (PARTITION BY customer_id) AS first_date
    FROM staging.customer_transactions
    WHERE account = $account
      AND transaction_date <= CAST($holdout_end AS DATE)
),
daily AS (
    SELECT
        transaction_date AS day_date,
        count(*) FILTER (WHERE seq = 1) AS new_customers,
        count(*) FILTER (WHERE seq > 1) AS repeat_orders
    FROM tx
    WHERE first_date <= CAST($cutoff AS DATE)
    GROUP BY ALL
),
days AS (
    SELECT CAST(d AS DATE) AS day_date
    FROM range(CAST($start AS TIMESTAMP), CAST($holdout_end AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) AS t(d)
)
SELECT
    days.day_date,
    CAST(date_diff('day', CAST($start AS DATE), days.day_date) AS INTEGER) AS day,
    CAST(coalesce(daily.new_customers, 0) AS INTEGER) AS new_customers,
    CAST(coalesce(daily.repeat_orders, 0) AS INTEGER) AS repeat_orders
FROM days
LEFT JOIN daily USING (day_date)
ORDER BY days.day_date
