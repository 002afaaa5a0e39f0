-- The purchase model whose stored draws the account's predictions use: the latest fit
-- of the account's purchase model that passed its diagnostics (one model per account).
SELECT model
FROM models.posterior_draws
WHERE account = $account AND list_contains($purchase_models, model)
GROUP BY model
ORDER BY max(fitted_at) DESC
LIMIT 1
