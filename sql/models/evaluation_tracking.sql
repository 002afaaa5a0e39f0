-- models.evaluation_tracking: account x model x day, cumulative repeat transactions of
-- the calibration cohort, actual and predicted (the tracking plot as data).
SELECT
    CAST($account AS VARCHAR) AS account,
    model,
    CAST(day_date AS DATE) AS day_date,
    CAST(actual_cumulative AS BIGINT) AS actual_cumulative,
    predicted_cumulative,
    CAST(day_date AS DATE) > CAST($cutoff AS DATE) AS in_holdout,
    CAST($evaluated_at AS TIMESTAMPTZ) AS evaluated_at
FROM evaluation_track
ORDER BY model, day_date
