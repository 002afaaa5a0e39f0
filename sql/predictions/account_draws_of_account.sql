-- The account's per-draw totals (predictions.account_draws) in draw order, with the
-- horizon and discount rate of the predictions they belong to.
SELECT d.*, (SELECT any_value(discount_rate) FROM predictions.customers WHERE account = $account) AS discount_rate
FROM predictions.account_draws AS d
WHERE d.account = $account
ORDER BY d.draw
