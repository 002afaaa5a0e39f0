-- raw.orders: landed rows that passed validation, typed. Orders after the as-of date
-- stay here (backtests need them); features filter by date.
SELECT
    CAST($account AS VARCHAR) AS account,
    order_id,
    customer_id,
    CAST(ordered_at_tz AS TIMESTAMP) AS ordered_at,  -- UTC
    CAST(ordered_at_tz AS DATE) AS order_date,       -- UTC calendar day
    CAST(amount_value AS DECIMAL(18, 4)) AS amount,  -- exact sums downstream
    currency,
    channel,
    status,
    source_file,
    source_row,
    CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM validated_landing_rows
WHERE reject_reason IS NULL
