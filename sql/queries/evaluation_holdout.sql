-- What each customer of the calibration cohort (first transaction on or before $cutoff)
-- did in the holdout ($cutoff, $holdout_end]: transactions (same-day orders merged, so
-- comparable with the model's counts; all of them are repeat transactions) and spend.
SELECT
    customer_id,
    CAST(count(*) FILTER (WHERE transaction_date > CAST($cutoff AS DATE)
                            AND transaction_date <= CAST($holdout_end AS DATE)) AS INTEGER) AS holdout_orders,
    CAST(coalesce(sum(amount) FILTER (WHERE transaction_date > CAST($cutoff AS DATE)
                                        AND transaction_date <= CAST($holdout_end AS DATE)), 0) AS DOUBLE) AS holdout_spend
FROM staging.customer_transactions
WHERE account = $account
GROUP BY customer_id
HAVING min(transaction_date) <= CAST($cutoff AS DATE)
ORDER BY customer_id
