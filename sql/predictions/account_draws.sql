-- predictions.account_draws: one row per posterior draw of the account, with sums over
-- all customers of that draw's predictions over the horizon. Their quantiles over draws
-- are the posterior intervals of account-wide figures (e.g. predicted revenue), which
-- summing the customers' own intervals would overstate.
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST(draw AS INTEGER) AS draw,
    CAST($horizon_days AS INTEGER) AS horizon_days,
    CAST($discount_rate AS DOUBLE) AS discount_rate,
    CAST($purchase_model AS VARCHAR) AS purchase_model,
    expected_orders AS total_expected_orders,
    predicted_spend AS total_predicted_spend,
    expected_aov AS sum_expected_aov,
    p_order AS expected_customers_ordering,
    CAST($predicted_at AS TIMESTAMPTZ) AS predicted_at,
    -- added later (appended): expected customers with >= 2 orders in the horizon, and with
    -- an order within the purchase horizon
    p_multiple_orders AS expected_customers_ordering_multiple,
    purchase_probability AS expected_customers_purchasing
FROM draw_totals
ORDER BY draw
