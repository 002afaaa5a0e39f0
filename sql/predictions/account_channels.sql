-- predictions.account_channels: the account's channel mix (share of orders with a known
-- channel) and the prior strength (concentration) that pulls each customer's own channel
-- history toward it. Rows from the temp table channel_mix.
SELECT
    CAST($account AS VARCHAR) AS account,
    channel,
    CAST(orders AS BIGINT) AS orders,
    share,
    CAST($concentration AS DOUBLE) AS concentration,
    CAST($as_of AS DATE) AS as_of
FROM channel_mix
ORDER BY orders DESC, channel
