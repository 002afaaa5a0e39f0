-- raw.load_log: one row per load of an account (appended, never replaced): what it read
-- (files or source, since when, how many rows) and the watermark the next load starts from.
-- Parameters: $account, $loaded_at, $source (what was read), $source_key (the source
-- settings' hash: a watermark is reused only for the same source), $mode ('full' or
-- 'incremental'), $read_since, $watermark, $files (what was read), $files_present (JSON).
-- Rows of a landing folder's unchanged files are carried over, not read: only rows of
-- $files count as read.
SELECT
    CAST($account AS VARCHAR) AS account,
    CAST($loaded_at AS TIMESTAMPTZ) AS loaded_at,
    CAST($source AS VARCHAR) AS source,
    CAST($source_key AS VARCHAR) AS source_key,
    CAST($mode AS VARCHAR) AS mode,
    CAST($read_since AS TIMESTAMPTZ) AS read_since,
    CAST($watermark AS TIMESTAMPTZ) AS watermark,
    CAST($files AS VARCHAR[]) AS files_read,
    CAST($files_present AS VARCHAR) AS files_present,
    count(*) AS rows_read,
    count(*) FILTER (WHERE reject_reason IS NULL) AS rows_kept,
    count(*) FILTER (WHERE reject_reason IS NOT NULL) AS rows_rejected
FROM validated_landing_rows
WHERE list_contains(CAST($files AS VARCHAR[]), source_file)
