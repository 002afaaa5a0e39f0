-- models.pooled_prior: the population distribution of each model's parameters learnt from
-- the accounts fitted with their own (default) priors (temp table population, see
-- clv_assets/stats/pooled.py), with its inputs: which accounts, their data as of, their
-- latest fit, and when the prior was learnt. Small accounts are fitted with it.
SELECT
    model,
    parameter,
    transform,
    mu,
    sigma,
    between_sd,
    within_sd,
    CAST(n_accounts AS INTEGER) AS n_accounts,
    CAST(string_split(accounts, ',') AS VARCHAR[]) AS accounts,
    CAST(inputs_as_of AS DATE) AS inputs_as_of,
    CAST(inputs_fitted_through AS TIMESTAMPTZ) AS inputs_fitted_through,
    CAST($fitted_at AS TIMESTAMPTZ) AS fitted_at
FROM population
