-- marts.account_summary: one row per account: size, history, predictions over the horizon
-- (predicted revenue with a 90% posterior interval from the per-draw totals in
-- predictions.account_draws), band distributions, channel mix, model status and the
-- model choice of the latest holdout backtest (temp table model_choice_of_account).
WITH profile AS (SELECT * FROM marts.customer_profile WHERE account = $account),
draws AS (SELECT * FROM predictions.account_draws WHERE account = $account),
status AS (
    SELECT
        string_agg(model || ': ' || status || coalesce(' (' || reason || ')', ''), '; ' ORDER BY model) AS model_status
    FROM models.fit_status
    WHERE account = $account
),
bands AS (
    SELECT band, map_from_entries(list((level, customers) ORDER BY level)) AS distribution
    FROM marts.band_distribution
    WHERE account = $account AND level IS NOT NULL
    GROUP BY band
),
channels AS (
    SELECT map_from_entries(list((channel, share) ORDER BY orders DESC, channel)) AS channel_shares
    FROM predictions.account_channels
    WHERE account = $account
),
served AS (
    SELECT any_value(purchase_model) AS served_model FROM predictions.customers WHERE account = $account
),
purchase_fit AS (
    SELECT any_value(model) AS model, any_value(status) AS status, any_value(model_reason) AS model_reason
    FROM models.fit_status
    WHERE account = $account AND requested_model IS NOT NULL
),
currency AS (
    SELECT mode(currency) AS currency FROM raw.orders WHERE account = $account
)
SELECT
    CAST($account AS VARCHAR) AS account,
    any_value(p.as_of) AS as_of,
    (SELECT currency FROM currency) AS currency,
    count(*) AS customers,
    count(*) FILTER (WHERE p.repeat_transactions > 0) / count(*) AS repeat_buyer_share,
    avg(p.order_count) AS avg_orders_per_customer,
    sum(p.total_spend) / sum(p.order_count) AS avg_order_value,
    avg(p.total_spend) AS avg_total_spend,
    any_value(p.horizon_days) AS horizon_days,
    avg(p.expected_orders) AS avg_expected_orders,
    avg(p.expected_aov) AS avg_expected_aov,
    avg(p.predicted_spend) AS avg_predicted_spend,
    avg(p.p_order) AS avg_p_order,
    avg(p.churn_probability) AS avg_churn_probability,
    sum(p.predicted_spend) AS predicted_revenue,
    (SELECT quantile_cont(total_predicted_spend, 0.05) FROM draws) AS predicted_revenue_p05,
    (SELECT quantile_cont(total_predicted_spend, 0.95) FROM draws) AS predicted_revenue_p95,
    sum(p.expected_orders) AS predicted_orders,
    (SELECT quantile_cont(total_expected_orders, 0.05) FROM draws) AS predicted_orders_p05,
    (SELECT quantile_cont(total_expected_orders, 0.95) FROM draws) AS predicted_orders_p95,
    (SELECT distribution FROM bands WHERE band = 'frequency_band') AS frequency_band_distribution,
    (SELECT distribution FROM bands WHERE band = 'spend_band') AS spend_band_distribution,
    (SELECT distribution FROM bands WHERE band = 'predicted_spend_band') AS predicted_spend_band_distribution,
    (SELECT distribution FROM bands WHERE band = 'predicted_aov_band') AS predicted_aov_band_distribution,
    (SELECT distribution FROM bands WHERE band = 'order_likelihood_band') AS order_likelihood_band_distribution,
    (SELECT distribution FROM bands WHERE band = 'spend_tier') AS spend_tier_distribution,
    (SELECT distribution FROM bands WHERE band = 'churn_band') AS churn_band_distribution,
    (SELECT distribution FROM bands WHERE band = 'purchase_probability_band') AS purchase_probability_band_distribution,
    (SELECT channel_shares FROM channels) AS channel_shares,
    count(p.predicted_spend) > 0 AS predicted,
    (SELECT model_status FROM status) AS model_status,
    (SELECT served_model FROM served) AS served_model,
    (
        SELECT CASE
            WHEN f.model = s.served_model THEN f.model_reason
            ELSE 'latest fit of ' || f.model || ' ' || f.status || ' (' || f.model_reason || '); the last fit that passed is served'
        END
        FROM purchase_fit AS f, served AS s
    ) AS served_model_reason,
    (SELECT any_value(chosen_model) FROM model_choice_of_account) AS backtest_chosen_model,
    (SELECT any_value(reason) FROM model_choice_of_account) AS backtest_choice_reason,
    (SELECT any_value(evaluated_at) FROM model_choice_of_account) AS backtest_evaluated_at,
    max(p.predicted_at) AS predicted_at
FROM profile AS p
