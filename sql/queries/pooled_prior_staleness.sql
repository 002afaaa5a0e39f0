-- How many accounts fitted with their own prior have a newer fit than the pooled prior
-- learnt (all of them before the first pooled prior): the refresh sensor's trigger.
SELECT
    count(DISTINCT account) AS n_fitted_accounts,
    count(DISTINCT account) FILTER (WHERE $learnt_at IS NULL OR fitted_at > CAST($learnt_at AS TIMESTAMPTZ)) AS n_new_fits
FROM models.posterior_draws
WHERE coalesce(prior, 'default') = 'default'
