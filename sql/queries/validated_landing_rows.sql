-- Every landed row (temp table landing_rows, all text) with its typed values and, if it
-- fails validation, the reason. raw.orders and raw.rejected_orders split this set, so
-- each landed row lands in exactly one of them; rejected rows take their text as sent
-- from landing_rows (by source_file, source_row), so it is not copied for every row.
-- Parameters: $loaded_at (TIMESTAMPTZ, the load time), $currency (the account's
-- configured currency, or NULL to use the most common valid code in its orders).
-- typed is NOT MATERIALIZED: read twice, but the currency lookup needs one column of it,
-- and a materialised copy of every typed row took 0.7 GB at 3.8M rows (the load's peak)
WITH typed AS NOT MATERIALIZED (
    SELECT
        source_file,
        source_row,
        nullif(trim(order_id), '') AS order_id,
        nullif(trim(customer_id), '') AS customer_id,
        nullif(trim(ordered_at), '') AS ordered_at_text,
        -- naive timestamps mean UTC: the session time zone is UTC
        try_cast(trim(ordered_at) AS TIMESTAMPTZ) AS ordered_at_tz,
        nullif(trim(amount), '') AS amount_text,
        try_cast(trim(amount) AS DOUBLE) AS amount_value,
        upper(nullif(trim(currency), '')) AS currency,
        lower(coalesce(nullif(trim(channel), ''), 'unknown')) AS channel,
        lower(coalesce(nullif(trim(status), ''), 'completed')) AS status
    FROM landing_rows
),
account_currency AS (
    SELECT coalesce(
        CAST($currency AS VARCHAR),
        (
            SELECT currency FROM typed
            WHERE regexp_full_match(currency, '[A-Z]{3}')
            GROUP BY currency
            ORDER BY count(*) DESC, currency
            LIMIT 1
        )
    ) AS currency
),
checked AS (
    SELECT
        typed.*,
        CASE
            WHEN customer_id IS NULL THEN 'missing_customer_id'
            WHEN order_id IS NULL THEN 'missing_order_id'
            WHEN ordered_at_text IS NULL THEN 'missing_timestamp'
            WHEN ordered_at_tz IS NULL OR NOT isfinite(ordered_at_tz) THEN 'unparseable_timestamp'
            WHEN ordered_at_tz > $loaded_at THEN 'future_timestamp'
            WHEN amount_text IS NULL THEN 'missing_amount'
            WHEN amount_value IS NULL OR NOT isfinite(amount_value) THEN 'non_numeric_amount'
            WHEN amount_value < 0 THEN 'negative_amount'
            WHEN amount_value >= 1e14 THEN 'amount_out_of_range'
            WHEN typed.currency IS NULL THEN 'missing_currency'
            WHEN NOT regexp_full_match(typed.currency, '[A-Z]{3}') THEN 'invalid_currency'
            WHEN typed.currency <> account_currency.currency THEN 'currency_mismatch'
            WHEN status NOT IN ('completed', 'cancelled', 'refunded') THEN 'unknown_status'
        END AS row_reason
    FROM typed, account_currency
)
SELECT
    * EXCLUDE (row_reason, ordered_at_text, amount_text),
    -- the first otherwise-valid row of an order_id wins; a corrected re-send of a bad
    -- row is therefore kept, an exact re-send is rejected
    coalesce(
        row_reason,
        CASE
            WHEN row_number() OVER (
                PARTITION BY order_id, row_reason IS NULL ORDER BY source_file, source_row
            ) > 1 THEN 'duplicate_order_id'
        END
    ) AS reject_reason
FROM checked
