-- marts.prediction_audit_detail: marts.prediction_audit's figures per band and per
-- segment of the customers as of the snapshot's date, with the buyers as shares.
SELECT
    * REPLACE (CAST(as_of AS DATE) AS as_of, CAST(snapshot_as_of AS DATE) AS snapshot_as_of, CAST(horizon_days AS INTEGER) AS horizon_days, CAST(matured_days AS INTEGER) AS matured_days),
    predicted_buyers / customers AS predicted_buyer_share,
    predicted_buyers_p05 / customers AS predicted_buyer_share_p05,
    predicted_buyers_p95 / customers AS predicted_buyer_share_p95,
    actual_buyers / customers AS actual_buyer_share
FROM audit_rows
WHERE group_kind <> 'account'
ORDER BY snapshot_as_of, matured_days, group_kind, group_name, group_value
