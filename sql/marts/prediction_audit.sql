-- marts.prediction_audit: the stored snapshots (models.prediction_snapshots) scored by
-- this run against the orders of the windows due now, one row per snapshot and window
-- (earlier windows stay), all the snapshot's customers together (temp table audit_rows from the audit
-- asset; the same figures per band and segment in marts.prediction_audit_detail).
-- Dates as DATE, days as INTEGER (the frame carries timestamps and 64-bit integers).
SELECT * EXCLUDE (group_kind, group_name, group_value)
    REPLACE (CAST(as_of AS DATE) AS as_of, CAST(snapshot_as_of AS DATE) AS snapshot_as_of, CAST(horizon_days AS INTEGER) AS horizon_days, CAST(matured_days AS INTEGER) AS matured_days)
FROM audit_rows
WHERE group_kind = 'account'
ORDER BY snapshot_as_of, matured_days
