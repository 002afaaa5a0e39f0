-- bands.customers: every band of each customer, relative to the account's own behaviour,
-- with the posterior probability (confidence) of each predicted band. Cut-offs come from
-- bands.thresholds (see that file); every band is (lower, upper]. Predicted bands are NULL
-- for an account without predictions (too little data to fit).
-- The confidence of a band is the share of the $draws posterior draws that put the
-- customer in it: per distinct history, the temp table band_draw_counts holds the number
-- of draws in each band (columns <band>__<k>, band k 0-based), counted from the draws by
-- clv_assets/stats/band_confidence.py.
WITH banded AS (
    -- each value next to its cut-offs
    SELECT
        rfm.account,
        rfm.customer_id,
        rfm.order_count,
        rfm.total_spend / nullif(t.mean_total_spend, 0) AS spend_ratio,
        p.predicted_spend / nullif(t.mean_predicted_spend, 0) AS predicted_spend_ratio,
        p.expected_aov / nullif(t.mean_expected_aov, 0) AS predicted_aov_ratio,
        p.predicted_spend,
        floor(100 * p.churn_probability + 0.5) AS churn_pct,
        CASE WHEN t.purchase_probability_basis = 'relative' THEN p.purchase_probability
             ELSE floor(100 * p.purchase_probability + 0.5) END AS purchase_value,
        CASE WHEN t.purchase_probability_basis = 'relative' THEN t.purchase_probability_cutoffs
             ELSE t.probability_cutoffs_pct END AS purchase_cutoffs,
        t.relative_cutoffs AS rc,
        t.probability_cutoffs_pct AS pc,
        t.spend_tier_low_cutoff,
        t.spend_tier_high_cutoff,
        CASE
            WHEN p.p_multiple_orders >= t.likely_to_order_multiple_cutoff THEN 2
            WHEN p.p_order >= t.likely_to_order_cutoff THEN 1
            ELSE 0
        END AS order_likelihood_i,
        p.customer_id IS NOT NULL AS predicted,
        bp.*  EXCLUDE (frequency, recency, "T", monetary_value, first_channel_rank, first_order_value_level)
    FROM features.rfm AS rfm
    JOIN bands.thresholds AS t ON t.account = rfm.account
    LEFT JOIN predictions.customers AS p
      ON p.account = rfm.account AND p.customer_id = rfm.customer_id
    -- under a covariate model the distinct rows are per history and covariate level
    -- (temp table customer_levels; no rows, so NULL keys, without covariates)
    LEFT JOIN customer_levels AS lv ON lv.customer_id = rfm.customer_id
    LEFT JOIN band_draw_counts AS bp
      ON bp.frequency = rfm.frequency AND bp.recency = rfm.recency
     AND bp."T" = rfm."T" AND bp.monetary_value = rfm.monetary_value
     AND bp.first_channel_rank IS NOT DISTINCT FROM lv.first_channel_rank
     AND bp.first_order_value_level IS NOT DISTINCT FROM lv.first_order_value_level
    WHERE rfm.account = $account
),
base AS (
    -- 0-based band index: the number of cut-offs strictly below the value, a sum of
    -- comparisons (a list_filter lambda per row and cut-off cost a tenth of the query at a
    -- million customers); each cut-off list has its labels' length less one
    -- (lib/band_config.py), and a comparison with NULL counts as not below
    SELECT
        * EXCLUDE (order_count, spend_ratio, predicted_spend_ratio, predicted_aov_ratio, predicted_spend, churn_pct,
                   purchase_value, purchase_cutoffs, rc, pc, spend_tier_low_cutoff, spend_tier_high_cutoff),
        (1 < order_count IS TRUE)::INTEGER + (2 < order_count IS TRUE)::INTEGER + (4 < order_count IS TRUE)::INTEGER
            AS frequency_i,
        (rc[1] < spend_ratio IS TRUE)::INTEGER + (rc[2] < spend_ratio IS TRUE)::INTEGER
            + (rc[3] < spend_ratio IS TRUE)::INTEGER + (rc[4] < spend_ratio IS TRUE)::INTEGER AS spend_i,
        (rc[1] < predicted_spend_ratio IS TRUE)::INTEGER + (rc[2] < predicted_spend_ratio IS TRUE)::INTEGER
            + (rc[3] < predicted_spend_ratio IS TRUE)::INTEGER + (rc[4] < predicted_spend_ratio IS TRUE)::INTEGER
            AS predicted_spend_i,
        (rc[1] < predicted_aov_ratio IS TRUE)::INTEGER + (rc[2] < predicted_aov_ratio IS TRUE)::INTEGER
            + (rc[3] < predicted_aov_ratio IS TRUE)::INTEGER + (rc[4] < predicted_aov_ratio IS TRUE)::INTEGER
            AS predicted_aov_i,
        (spend_tier_low_cutoff < predicted_spend IS TRUE)::INTEGER + (spend_tier_high_cutoff < predicted_spend IS TRUE)::INTEGER
            AS spend_tier_i,
        (pc[1] < churn_pct IS TRUE)::INTEGER + (pc[2] < churn_pct IS TRUE)::INTEGER + (pc[3] < churn_pct IS TRUE)::INTEGER
            AS churn_i,
        (purchase_cutoffs[1] < purchase_value IS TRUE)::INTEGER + (purchase_cutoffs[2] < purchase_value IS TRUE)::INTEGER
            + (purchase_cutoffs[3] < purchase_value IS TRUE)::INTEGER AS purchase_probability_i
    FROM banded
)
SELECT
    account,
    customer_id,
    ['1 order', '2 orders', '3-4 orders', '5+ orders'][frequency_i + 1] AS frequency_band,
    $relative_labels[spend_i + 1] AS spend_band,
    CASE WHEN predicted THEN $relative_labels[predicted_spend_i + 1] END AS predicted_spend_band,
    CASE WHEN predicted THEN
        CASE predicted_spend_i
            WHEN 0 THEN predicted_spend_band__0
            WHEN 1 THEN predicted_spend_band__1
            WHEN 2 THEN predicted_spend_band__2
            WHEN 3 THEN predicted_spend_band__3
            WHEN 4 THEN predicted_spend_band__4
        END / $draws
    END AS predicted_spend_band_confidence,
    CASE WHEN predicted THEN $relative_labels[predicted_aov_i + 1] END AS predicted_aov_band,
    CASE WHEN predicted THEN
        CASE predicted_aov_i
            WHEN 0 THEN predicted_aov_band__0
            WHEN 1 THEN predicted_aov_band__1
            WHEN 2 THEN predicted_aov_band__2
            WHEN 3 THEN predicted_aov_band__3
            WHEN 4 THEN predicted_aov_band__4
        END / $draws
    END AS predicted_aov_band_confidence,
    CASE WHEN predicted THEN $order_likelihood_labels[order_likelihood_i + 1] END AS order_likelihood_band,
    CASE WHEN predicted THEN
        CASE order_likelihood_i
            WHEN 0 THEN order_likelihood_band__0
            WHEN 1 THEN order_likelihood_band__1
            WHEN 2 THEN order_likelihood_band__2
        END / $draws
    END AS order_likelihood_band_confidence,
    CASE WHEN predicted THEN $spend_tier_labels[spend_tier_i + 1] END AS spend_tier,
    CASE WHEN predicted THEN
        CASE spend_tier_i
            WHEN 0 THEN spend_tier__0
            WHEN 1 THEN spend_tier__1
            WHEN 2 THEN spend_tier__2
        END / $draws
    END AS spend_tier_confidence,
    CASE WHEN predicted THEN $probability_labels[churn_i + 1] END AS churn_band,
    CASE WHEN predicted THEN
        CASE churn_i
            WHEN 0 THEN churn_band__0
            WHEN 1 THEN churn_band__1
            WHEN 2 THEN churn_band__2
            WHEN 3 THEN churn_band__3
        END / $draws
    END AS churn_band_confidence,
    CASE WHEN predicted THEN $probability_labels[purchase_probability_i + 1] END AS purchase_probability_band,
    CASE WHEN predicted THEN
        CASE purchase_probability_i
            WHEN 0 THEN purchase_probability_band__0
            WHEN 1 THEN purchase_probability_band__1
            WHEN 2 THEN purchase_probability_band__2
            WHEN 3 THEN purchase_probability_band__3
        END / $draws
    END AS purchase_probability_band_confidence
FROM base
