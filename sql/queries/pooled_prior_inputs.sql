-- The posterior draws of every account x model fitted with its own (default) prior: the
-- inputs of models/pooled_prior. Accounts fitted with the pooled prior are left out, so the
-- prior never feeds on itself.
SELECT d.account, d.model, d.parameter, d.value, d.fitted_at, f.as_of
FROM models.posterior_draws AS d
JOIN (SELECT DISTINCT account, model, as_of FROM models.fits) AS f USING (account, model)
WHERE coalesce(d.prior, 'default') = 'default'
ORDER BY d.account, d.model, d.parameter, d.chain, d.draw
