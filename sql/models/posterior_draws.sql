-- models.posterior_draws: the draws of the account's latest fit that passed its
-- diagnostics (temp table fit_draws), so predictions can be recomputed without refitting.
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST($model AS VARCHAR) AS model,
    CAST(chain AS INTEGER) AS chain,
    CAST(draw AS INTEGER) AS draw,
    parameter,
    value,
    CAST($fitted_at AS TIMESTAMPTZ) AS fitted_at,
    -- 'default', or 'pooled prior from N accounts' (models/pooled_prior)
    CAST($prior AS VARCHAR) AS prior
FROM fit_draws
