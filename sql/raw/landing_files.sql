-- raw.landing_files: one row per file of the account's latest load, with the number of
-- data rows read from it; the conservation check compares it with the two raw tables.
SELECT
    CAST($account AS VARCHAR) AS account,
    source_file,
    count(*) AS rows_landed,
    CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at
FROM landing_rows
GROUP BY source_file
ORDER BY source_file
