-- models.evaluation_effects: account x covariate candidate x coefficient x covariate of the
-- latest holdout backtest (temp table evaluation_effect_rows): the effect's posterior mean,
-- 90% interval and the ratio it multiplies its parameter by.
SELECT
    CAST($account AS VARCHAR) AS account,
    -- typed: a first backtest without covariate candidates creates the table from no rows
    CAST(model AS VARCHAR) AS model,
    CAST(coefficient AS VARCHAR) AS coefficient,
    CAST(covariate AS VARCHAR) AS covariate,
    CAST(level AS VARCHAR) AS level,
    CAST(mean AS DOUBLE) AS mean,
    CAST(low AS DOUBLE) AS mean_p05,
    CAST(high AS DOUBLE) AS mean_p95,
    CAST(ratio AS DOUBLE) AS ratio,
    CAST(ratio_low AS DOUBLE) AS ratio_p05,
    CAST(ratio_high AS DOUBLE) AS ratio_p95,
    CAST($cutoff AS DATE) AS cutoff,
    CAST($evaluated_at AS TIMESTAMPTZ) AS evaluated_at
FROM evaluation_effect_rows
ORDER BY model, coefficient, covariate
