-- Distinct Gamma-Gamma inputs: repeat buyers with positive mean repeat spend, grouped by
-- (frequency, monetary_value), with their counts.
SELECT frequency, monetary_value, count(*) AS n
FROM features.rfm
WHERE account = $account
  AND frequency > 0
  AND monetary_value > 0
GROUP BY ALL
ORDER BY ALL
