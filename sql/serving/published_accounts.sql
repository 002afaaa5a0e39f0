-- One row per account in the serving copy: when its tables were last published and by which run.
SELECT
    $account AS account,
    $run_id::VARCHAR AS run_id,
    $published_at::TIMESTAMPTZ AS published_at
