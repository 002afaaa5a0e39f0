-- The stored pooled prior of one model (one row per sampled parameter).
SELECT parameter, transform, mu, sigma, n_accounts, accounts, fitted_at
FROM models.pooled_prior
WHERE model = $model
ORDER BY parameter
