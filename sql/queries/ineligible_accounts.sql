-- Of the accounts $accounts, those whose latest fit attempt of a model found them too small
-- for a fit of their own (status ineligible), with their size: the accounts that may be
-- waiting for the pooled prior.
SELECT
    account,
    max(n_customers) AS n_customers,
    max(n_repeat_buyers) AS n_repeat_buyers
FROM models.fit_status
WHERE status = 'ineligible' AND list_contains($accounts, account)
GROUP BY account
ORDER BY account
