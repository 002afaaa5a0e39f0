-- When the customer predictions of each of $accounts were last computed (accounts
-- without predictions have no row). An account whose latest fit attempt found it too
-- small to fit has no predictions by design: its last attempt counts instead.
SELECT account, max(last_at) AS last_at
FROM (
    SELECT account, max(predicted_at) AS last_at
    FROM predictions.customers
    WHERE list_contains(CAST($accounts AS VARCHAR[]), account)
    GROUP BY account
    UNION ALL
    SELECT account, max(attempted_at) AS last_at
    FROM models.fit_status
    WHERE list_contains(CAST($accounts AS VARCHAR[]), account) AND status = 'ineligible'
    GROUP BY account
)
GROUP BY account
