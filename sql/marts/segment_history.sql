-- marts.segment_history: the account's segment memberships as of this run's as_of date,
-- one row per customer and segment (cells folded). The asset replaces the rows of this
-- as_of only, so every earlier run's memberships stay (within the retention) and a re-run
-- of the same as_of replaces its own.
SELECT DISTINCT account, as_of, customer_id, segment
FROM marts.customer_segments
WHERE account = $account
