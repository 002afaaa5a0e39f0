-- The account's per-draw totals (predictions.account_draws) in draw order, with the
-- horizon, discount rate and purchase model of the predictions they belong to.
SELECT *
FROM predictions.account_draws
WHERE account = $account
ORDER BY draw
