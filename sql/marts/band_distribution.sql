-- marts.band_distribution: customers per band level of the account, for every band of
-- marts.customer_profile (a long table for BI charts; marts.account_summary has the same
-- counts as maps).
WITH profile AS (SELECT * FROM marts.customer_profile WHERE account = $account),
levels AS (
    UNPIVOT profile
    ON frequency_band, spend_band, predicted_spend_band, predicted_aov_band,
       order_likelihood_band, spend_tier, churn_band, purchase_probability_band
    INTO NAME band VALUE level
)
SELECT
    CAST($account AS VARCHAR) AS account,
    band,
    level,
    count(*) AS customers,
    count(*) / (SELECT count(*) FROM profile) AS share_of_customers,
    any_value(as_of) AS as_of
FROM levels
GROUP BY band, level
ORDER BY band, level
