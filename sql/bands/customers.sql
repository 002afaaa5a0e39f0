-- bands.customers: every band of each customer, relative to the account's own behaviour,
-- with the posterior probability (confidence) of each predicted band. Cut-offs come from
-- bands.thresholds (see that file); every band is (lower, upper]. Predicted bands are NULL
-- for an account without predictions (too little data to fit).
-- Band probabilities per distinct history come from the temp table band_probabilities
-- (columns <band>__<k> = posterior probability of band k, 0-based), computed from the
-- posterior draws by clv_assets/stats/band_confidence.py.
WITH base AS (
    SELECT
        rfm.account,
        rfm.customer_id,
        -- 0-based band index: the number of cut-offs strictly below the value
        len(list_filter([1, 2, 4], lambda c: c < rfm.order_count)) AS frequency_i,
        len(list_filter(t.relative_cutoffs, lambda c: c < rfm.total_spend / nullif(t.mean_total_spend, 0))) AS spend_i,
        len(list_filter(t.relative_cutoffs, lambda c: c < p.predicted_spend / nullif(t.mean_predicted_spend, 0))) AS predicted_spend_i,
        len(list_filter(t.relative_cutoffs, lambda c: c < p.expected_aov / nullif(t.mean_expected_aov, 0))) AS predicted_aov_i,
        CASE
            WHEN p.p_multiple_orders >= t.likely_to_order_multiple_cutoff THEN 2
            WHEN p.p_order >= t.likely_to_order_cutoff THEN 1
            ELSE 0
        END AS order_likelihood_i,
        len(list_filter([t.spend_tier_low_cutoff, t.spend_tier_high_cutoff], lambda c: c < p.predicted_spend)) AS spend_tier_i,
        len(list_filter(t.probability_cutoffs_pct, lambda c: c < floor(100 * p.churn_probability + 0.5))) AS churn_i,
        CASE WHEN t.purchase_probability_basis = 'relative'
             THEN len(list_filter(t.purchase_probability_cutoffs, lambda c: c < p.purchase_probability))
             ELSE len(list_filter(t.probability_cutoffs_pct, lambda c: c < floor(100 * p.purchase_probability + 0.5)))
        END AS purchase_probability_i,
        p.customer_id IS NOT NULL AS predicted,
        bp.*  EXCLUDE (frequency, recency, "T", monetary_value, first_channel_rank, first_order_value_level)
    FROM features.rfm AS rfm
    JOIN bands.thresholds AS t ON t.account = rfm.account
    LEFT JOIN predictions.customers AS p
      ON p.account = rfm.account AND p.customer_id = rfm.customer_id
    -- under a covariate model the distinct rows are per history and covariate level
    -- (temp table customer_levels; no rows, so NULL keys, without covariates)
    LEFT JOIN customer_levels AS lv ON lv.customer_id = rfm.customer_id
    LEFT JOIN band_probabilities AS bp
      ON bp.frequency = rfm.frequency AND bp.recency = rfm.recency
     AND bp."T" = rfm."T" AND bp.monetary_value = rfm.monetary_value
     AND bp.first_channel_rank IS NOT DISTINCT FROM lv.first_channel_rank
     AND bp.first_order_value_level IS NOT DISTINCT FROM lv.first_order_value_level
    WHERE rfm.account = $account
)
SELECT
    account,
    customer_id,
    ['1 order', '2 orders', '3-4 orders', '5+ orders'][frequency_i + 1] AS frequency_band,
    $relative_labels[spend_i + 1] AS spend_band,
    CASE WHEN predicted THEN $relative_labels[predicted_spend_i + 1] END AS predicted_spend_band,
    CASE WHEN predicted THEN
        list_value(predicted_spend_band__0, predicted_spend_band__1, predicted_spend_band__2,
                   predicted_spend_band__3, predicted_spend_band__4)[predicted_spend_i + 1]
    END AS predicted_spend_band_confidence,
    CASE WHEN predicted THEN $relative_labels[predicted_aov_i + 1] END AS predicted_aov_band,
    CASE WHEN predicted THEN
        list_value(predicted_aov_band__0, predicted_aov_band__1, predicted_aov_band__2,
                   predicted_aov_band__3, predicted_aov_band__4)[predicted_aov_i + 1]
    END AS predicted_aov_band_confidence,
    CASE WHEN predicted THEN $order_likelihood_labels[order_likelihood_i + 1] END AS order_likelihood_band,
    CASE WHEN predicted THEN
        list_value(order_likelihood_band__0, order_likelihood_band__1, order_likelihood_band__2)[order_likelihood_i + 1]
    END AS order_likelihood_band_confidence,
    CASE WHEN predicted THEN $spend_tier_labels[spend_tier_i + 1] END AS spend_tier,
    CASE WHEN predicted THEN
        list_value(spend_tier__0, spend_tier__1, spend_tier__2)[spend_tier_i + 1]
    END AS spend_tier_confidence,
    CASE WHEN predicted THEN $probability_labels[churn_i + 1] END AS churn_band,
    CASE WHEN predicted THEN
        list_value(churn_band__0, churn_band__1, churn_band__2, churn_band__3)[churn_i + 1]
    END AS churn_band_confidence,
    CASE WHEN predicted THEN $probability_labels[purchase_probability_i + 1] END AS purchase_probability_band,
    CASE WHEN predicted THEN
        list_value(purchase_probability_band__0, purchase_probability_band__1,
                   purchase_probability_band__2, purchase_probability_band__3)[purchase_probability_i + 1]
    END AS purchase_probability_band_confidence
FROM base
