-- models.prediction_snapshot_draws: the posterior draws a snapshot's predictions were
-- computed from (thinned), long format; the audit recomputes the snapshot's sub-horizon
-- predictions and their predictive intervals from them (temp table snapshot_draws).
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST($as_of AS DATE) AS as_of,
    CAST(model AS VARCHAR) AS model,
    CAST(draw AS SMALLINT) AS draw,
    CAST(parameter AS VARCHAR) AS parameter,
    CAST(value AS DOUBLE) AS value
FROM snapshot_draws
