-- models.fits: one row per account x model x parameter of the latest fit (temp table
-- fit_summary from the posterior) with the run facts.
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST($model AS VARCHAR) AS model,
    parameter,
    mean,
    sd,
    hdi_5,
    hdi_95,
    r_hat,
    ess_bulk,
    CAST($divergences AS INTEGER) AS divergences,
    CAST($n_customers AS BIGINT) AS n_customers,
    CAST($n_distinct_rows AS BIGINT) AS n_distinct_rows,
    CAST($method AS VARCHAR) AS method,
    CAST($seconds AS DOUBLE) AS seconds,
    CAST($diagnostics_passed AS BOOLEAN) AS diagnostics_passed,
    CAST($fitted_at AS TIMESTAMPTZ) AS fitted_at,
    CAST($as_of AS DATE) AS as_of,
    -- 'default', or 'pooled prior from N accounts' (models/pooled_prior)
    CAST($prior AS VARCHAR) AS prior,
    -- what a later run compares before reusing this fit (models/refit.py)
    CAST($fit_settings AS VARCHAR) AS fit_settings
FROM fit_summary
