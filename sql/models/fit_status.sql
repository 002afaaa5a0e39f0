-- models.fit_status: the outcome of the latest fit attempt per account x model:
-- fitted, failed_diagnostics or ineligible, with the reason. For the purchase model also
-- the model requested (bgnbd, mbgnbd, pareto_nbd or auto) and why this one was fitted;
-- whether the run fitted or reused a stored fit (refit_every_days), and the fit's age.
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST($model AS VARCHAR) AS model,
    CAST($status AS VARCHAR) AS status,
    CAST($reason AS VARCHAR) AS reason,
    CAST($n_customers AS BIGINT) AS n_customers,
    CAST($n_repeat_buyers AS BIGINT) AS n_repeat_buyers,
    CAST($as_of AS DATE) AS as_of,
    CAST($attempted_at AS TIMESTAMPTZ) AS attempted_at,
    CAST($requested_model AS VARCHAR) AS requested_model,
    CAST($model_reason AS VARCHAR) AS model_reason,
    -- 'default', or 'pooled prior from N accounts' (models/pooled_prior)
    CAST($prior AS VARCHAR) AS prior,
    CAST($fit_choice AS VARCHAR) AS fit_choice,
    CAST($fitted_as_of AS DATE) AS fitted_as_of,
    CAST($fit_age_days AS INTEGER) AS fit_age_days,
    CAST($refit_every_days AS INTEGER) AS refit_every_days
