-- predictions.customer_channels: per customer, the channel the next order is most likely
-- to come through and that probability. Dirichlet-multinomial posterior: with the account
-- mix s_k (predictions.account_channels) and concentration c, the probability that a
-- customer with n_k orders through channel k (n in all) converts through k next is
-- (n_k + c * s_k) / (n + c). A customer without channel history gets the account mix.
-- Ties go to the channel with more orders in the account (then the later name).
-- The probabilities depend on a customer only through the channel history (temporary
-- table customer_channel_histories), so they are computed once per distinct history and
-- joined back to the customers.
WITH mix AS (
    SELECT channel, share, concentration, orders AS account_orders
    FROM predictions.account_channels
    WHERE account = $account
),
histories AS (
    SELECT DISTINCT history, n FROM customer_channel_histories
    UNION ALL
    SELECT NULL, 0  -- no channel history: the account mix
),
probabilities AS (
    SELECT
        h.history,
        mix.channel,
        mix.account_orders,
        (coalesce(list_filter(h.history, lambda e: e.channel = mix.channel)[1].orders, 0) + mix.concentration * mix.share)
            / (h.n + mix.concentration) AS probability
    FROM histories AS h
    CROSS JOIN mix
),
per_history AS (
    SELECT
        history,
        arg_max(channel, (probability, account_orders, channel)) AS best_channel,
        max(probability) AS best_channel_probability,
        map_from_entries(list((channel, probability) ORDER BY channel)) AS channel_probabilities
    FROM probabilities
    GROUP BY history
)
SELECT
    CAST($account AS VARCHAR) AS account,
    rfm.customer_id,
    p.best_channel,
    p.best_channel_probability,
    p.channel_probabilities
FROM features.rfm AS rfm
LEFT JOIN customer_channel_histories AS c ON c.customer_id = rfm.customer_id
JOIN per_history AS p ON p.history IS NOT DISTINCT FROM c.history
WHERE rfm.account = $account
