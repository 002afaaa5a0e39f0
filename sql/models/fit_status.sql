-- models.fit_status: the outcome of the latest fit attempt per account x model:
-- fitted, failed_diagnostics or ineligible, with the reason.
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST($model AS VARCHAR) AS model,
    CAST($status AS VARCHAR) AS status,
    CAST($reason AS VARCHAR) AS reason,
    CAST($n_customers AS BIGINT) AS n_customers,
    CAST($n_repeat_buyers AS BIGINT) AS n_repeat_buyers,
    CAST($as_of AS DATE) AS as_of,
    CAST($attempted_at AS TIMESTAMPTZ) AS attempted_at
