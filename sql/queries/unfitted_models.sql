-- The account's models whose latest fit attempt found it ineligible (too little data),
-- with the reason. Empty when both models have a usable fit.
SELECT model, reason
FROM models.fit_status
WHERE account = $account AND status = 'ineligible'
ORDER BY model
