-- raw.rejected_orders: landed rows that failed validation, as sent, with a reason code.
SELECT
    CAST($account AS VARCHAR) AS account,
    source_file,
    source_row,
    v.reject_reason AS reason,
    sent.order_id,
    sent.customer_id,
    sent.ordered_at,
    sent.amount,
    sent.currency,
    sent.channel,
    sent.status,
    CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM validated_landing_rows AS v
JOIN landing_rows AS sent USING (source_file, source_row)
WHERE v.reject_reason IS NOT NULL
ORDER BY source_file, source_row
