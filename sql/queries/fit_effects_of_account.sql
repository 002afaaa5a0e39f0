-- The account's stored covariate effects (models.fit_effects) in the columns of
-- CovariatePurchaseModel.effects: what a run that reuses the fit shows in its metadata.
SELECT coefficient, covariate, level, mean, mean_p05 AS low, mean_p95 AS high, ratio, ratio_p05 AS ratio_low, ratio_p95 AS ratio_high
FROM models.fit_effects
WHERE account = $account
ORDER BY coefficient, covariate
