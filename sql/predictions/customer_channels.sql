-- predictions.customer_channels: per customer, the channel the next order is most likely
-- to come through and that probability. Dirichlet-multinomial posterior: with the account
-- mix s_k (predictions.account_channels) and concentration c, the probability that a
-- customer with n_k orders through channel k (n in all) converts through k next is
-- (n_k + c * s_k) / (n + c). A customer without channel history gets the account mix.
-- Ties go to the channel with more orders in the account (then the later name).
WITH mix AS (
    SELECT channel, share, concentration, orders AS account_orders
    FROM predictions.account_channels
    WHERE account = $account
),
own AS (
    SELECT customer_id, channel, orders FROM customer_channel_orders
),
totals AS (
    SELECT customer_id, sum(orders) AS n FROM own GROUP BY customer_id
),
probabilities AS (
    SELECT
        rfm.customer_id,
        mix.channel,
        mix.account_orders,
        (coalesce(own.orders, 0) + mix.concentration * mix.share)
            / (coalesce(totals.n, 0) + mix.concentration) AS probability
    FROM features.rfm AS rfm
    CROSS JOIN mix
    LEFT JOIN own ON own.customer_id = rfm.customer_id AND own.channel = mix.channel
    LEFT JOIN totals ON totals.customer_id = rfm.customer_id
    WHERE rfm.account = $account
)
SELECT
    CAST($account AS VARCHAR) AS account,
    customer_id,
    arg_max(channel, (probability, account_orders, channel)) AS best_channel,
    max(probability) AS best_channel_probability,
    map_from_entries(list((channel, probability) ORDER BY channel)) AS channel_probabilities
FROM probabilities
GROUP BY customer_id
ORDER BY customer_id
