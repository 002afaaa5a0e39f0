-- The account's stored fit of the models $models (models.fits: one row per parameter of its
-- latest fit) with the fit time of the draws stored for that model: what a run may reuse
-- instead of sampling (models/purchase_model, models/gamma_gamma).
SELECT
    f.*,
    (
        SELECT max(d.fitted_at)
        FROM models.posterior_draws AS d
        WHERE d.account = f.account AND d.model = f.model
    ) AS draws_fitted_at
FROM models.fits AS f
WHERE f.account = $account AND list_contains(CAST($models AS VARCHAR[]), f.model)
ORDER BY f.model, f.parameter
