-- models.model_choice: the candidate purchase model the account's holdout backtest scored
-- best, and why. Accounts whose purchase model is 'auto' are fitted and served with it;
-- joined into marts.account_summary.
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST($chosen_model AS VARCHAR) AS chosen_model,
    CAST($score_name AS VARCHAR) AS score_name,
    CAST($score AS DOUBLE) AS score,
    CAST($reason AS VARCHAR) AS reason,
    CAST($candidates_compared AS VARCHAR) AS candidates_compared,
    CAST($cutoff AS DATE) AS cutoff,
    CAST($evaluated_at AS TIMESTAMPTZ) AS evaluated_at
