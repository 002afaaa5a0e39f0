-- marts.prediction_calibration: per snapshot and window, the snapshot's customers in bins
-- of their predicted P(order within the matured days) against the share that did order
-- (temp table calibration_rows from the audit asset).
SELECT * REPLACE (CAST(as_of AS DATE) AS as_of, CAST(snapshot_as_of AS DATE) AS snapshot_as_of, CAST(horizon_days AS INTEGER) AS horizon_days, CAST(matured_days AS INTEGER) AS matured_days)
FROM calibration_rows
ORDER BY snapshot_as_of, matured_days, bin
