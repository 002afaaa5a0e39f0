-- raw.rejected_orders: landed rows that failed validation, as sent, with a reason code.
SELECT
    CAST($account AS VARCHAR) AS account,
    source_file,
    source_row,
    reject_reason AS reason,
    raw_order_id AS order_id,
    raw_customer_id AS customer_id,
    raw_ordered_at AS ordered_at,
    raw_amount AS amount,
    raw_currency AS currency,
    raw_channel AS channel,
    raw_status AS status,
    CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM validated_landing_rows
WHERE reject_reason IS NOT NULL
ORDER BY source_file, source_row
