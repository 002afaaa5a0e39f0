-- marts.customer_segments: one row per customer and segment the customer is in (with the
-- cell, for segments split into cells). Built from the definitions in segments.yaml:
-- each definition becomes one SELECT over marts.customer_profile, and the asset runs
-- their UNION ALL in place of the placeholder below.
SELECT account, customer_id, segment, cell, as_of
FROM (/* segment selects */)
