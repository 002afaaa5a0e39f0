-- The horizons of the account's stored predictions (predictions.customers), which the
-- band confidences recompute under the same settings.
SELECT
    any_value(horizon_days) AS horizon_days,
    any_value(purchase_horizon_days) AS purchase_horizon_days,
    any_value(churn_horizon_days) AS churn_horizon_days
FROM predictions.customers
WHERE account = $account
