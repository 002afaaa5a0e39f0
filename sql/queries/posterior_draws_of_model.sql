-- The stored posterior draws of one model of the account (long form: one row per
-- chain x draw x parameter), in draw order.
SELECT chain, draw, parameter, value, fitted_at
FROM models.posterior_draws
WHERE account = $account AND model = $model
ORDER BY chain, draw, parameter
