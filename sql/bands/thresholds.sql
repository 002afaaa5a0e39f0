-- bands.thresholds: one row per account with the effective cut-offs of every band and the
-- account figures they are relative to. Bands are (lower, upper]: a value equal to a
-- cut-off falls in the band below it.
--   relative bands (spend, predicted spend, predicted AOV): value / account mean against
--     relative_cutoffs;
--   churn band (and the purchase-probability band with purchase_probability_basis
--     'absolute'): probability in whole percent against probability_cutoffs_pct;
--   purchase-probability band ('relative', the default): purchase_probability against
--     purchase_probability_cutoffs = purchase_probability_ratios x the account mean;
--   order likelihood: p_multiple_orders against likely_to_order_multiple_cutoff, else
--     p_order against likely_to_order_cutoff (bands are [cut-off, ...) here): with
--     order_likelihood_basis 'relative' (default) the ratios x the account means, with
--     'absolute' the probabilities likely_to_order(_multiple);
--   spend tier: predicted spend against [spend_tier_low_cutoff, spend_tier_high_cutoff],
--     the account's percentiles of predicted spend (the low one at least
--     spend_tier_nothing_below).
WITH account_rfm AS (
    SELECT any_value(as_of) AS as_of, count(*) AS customers, avg(total_spend) AS mean_total_spend
    FROM features.rfm
    WHERE account = $account
),
account_predictions AS (
    SELECT
        avg(predicted_spend) AS mean_predicted_spend,
        avg(expected_aov) AS mean_expected_aov,
        avg(p_order) AS mean_p_order,
        avg(p_multiple_orders) AS mean_p_multiple_orders,
        avg(purchase_probability) AS mean_purchase_probability,
        quantile_cont(predicted_spend, CAST($spend_tier_low_percentile AS DOUBLE)) AS low_percentile_spend,
        quantile_cont(predicted_spend, CAST($spend_tier_high_percentile AS DOUBLE)) AS high_percentile_spend
    FROM predictions.customers
    WHERE account = $account
)
SELECT
    CAST($account AS VARCHAR) AS account,
    r.as_of,
    r.customers,
    r.mean_total_spend,
    p.mean_predicted_spend,
    p.mean_expected_aov,
    CAST($relative_cutoffs AS DOUBLE[]) AS relative_cutoffs,
    CAST($probability_cutoffs_pct AS INTEGER[]) AS probability_cutoffs_pct,
    CAST($likely_to_order AS DOUBLE) AS likely_to_order,
    CAST($likely_to_order_multiple AS DOUBLE) AS likely_to_order_multiple,
    CAST($spend_tier_low_percentile AS DOUBLE) AS spend_tier_low_percentile,
    CAST($spend_tier_high_percentile AS DOUBLE) AS spend_tier_high_percentile,
    CAST($spend_tier_nothing_below AS DOUBLE) AS spend_tier_nothing_below,
    greatest(p.low_percentile_spend, $spend_tier_nothing_below) AS spend_tier_low_cutoff,
    greatest(p.high_percentile_spend, p.low_percentile_spend, $spend_tier_nothing_below) AS spend_tier_high_cutoff,
    CAST($overridden AS VARCHAR[]) AS overridden_by_account,
    -- added later (appended)
    p.mean_p_order,
    p.mean_p_multiple_orders,
    p.mean_purchase_probability,
    CAST($order_likelihood_basis AS VARCHAR) AS order_likelihood_basis,
    CAST($likely_to_order_ratio AS DOUBLE) AS likely_to_order_ratio,
    CAST($likely_to_order_multiple_ratio AS DOUBLE) AS likely_to_order_multiple_ratio,
    CASE WHEN $order_likelihood_basis = 'relative' THEN $likely_to_order_ratio * p.mean_p_order
         ELSE $likely_to_order END AS likely_to_order_cutoff,
    CASE WHEN $order_likelihood_basis = 'relative' THEN $likely_to_order_multiple_ratio * p.mean_p_multiple_orders
         ELSE $likely_to_order_multiple END AS likely_to_order_multiple_cutoff,
    CAST($purchase_probability_basis AS VARCHAR) AS purchase_probability_basis,
    CAST($purchase_probability_ratios AS DOUBLE[]) AS purchase_probability_ratios,
    CASE WHEN $purchase_probability_basis = 'relative'
         THEN list_transform(CAST($purchase_probability_ratios AS DOUBLE[]), lambda r: r * p.mean_purchase_probability)
    END AS purchase_probability_cutoffs
FROM account_rfm AS r, account_predictions AS p
