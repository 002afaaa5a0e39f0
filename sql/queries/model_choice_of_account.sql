-- The account's latest model choice (models.model_choice), if its holdout backtest ran.
SELECT chosen_model, reason, evaluated_at
FROM models.model_choice
WHERE account = $account
