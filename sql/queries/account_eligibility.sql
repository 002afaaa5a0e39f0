-- What decides whether an account has enough data to fit: customers, repeat buyers,
-- and the correlation of frequency and spend among repeat buyers (Gamma-Gamma assumes 0).
SELECT
    count(*) AS n_customers,
    count(*) FILTER (WHERE frequency > 0 AND monetary_value > 0) AS n_repeat_buyers,
    corr(frequency, monetary_value) FILTER (WHERE frequency > 0 AND monetary_value > 0)
        AS frequency_spend_correlation,
    max(as_of) AS as_of
FROM features.rfm
WHERE account = $account
