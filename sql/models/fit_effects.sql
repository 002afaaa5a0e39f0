-- models.fit_effects: account x coefficient x covariate of the account's latest purchase
-- fit with covariates (temp table fit_effect_rows; no rows for a model without them): the
-- effect's posterior mean, 90% interval and the ratio it multiplies its parameter by.
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST($model AS VARCHAR) AS model,
    -- typed: a fit without covariates writes no rows
    CAST(coefficient AS VARCHAR) AS coefficient,
    CAST(covariate AS VARCHAR) AS covariate,
    CAST(level AS VARCHAR) AS level,
    CAST(mean AS DOUBLE) AS mean,
    CAST(low AS DOUBLE) AS mean_p05,
    CAST(high AS DOUBLE) AS mean_p95,
    CAST(ratio AS DOUBLE) AS ratio,
    CAST(ratio_low AS DOUBLE) AS ratio_p05,
    CAST(ratio_high AS DOUBLE) AS ratio_p95,
    CAST($as_of AS DATE) AS as_of,
    CAST($fitted_at AS TIMESTAMPTZ) AS fitted_at
FROM fit_effect_rows
ORDER BY coefficient, covariate
