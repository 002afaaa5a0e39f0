-- marts.segment_changes: per customer and segment, each spell of membership between the
-- account's runs: the as_of date it began (entered_on) and the as_of date of the first run
-- in which the customer was no longer a member (left_on; NULL while a member). Derived
-- from marts.segment_history as a whole, so a re-run of an as_of date changes nothing and
-- runs taken in any order give the same spells. Gaps and islands: consecutive runs of
-- membership share (run number - membership number).
WITH runs AS (  -- this run counts even when no customer is in any segment
    SELECT as_of, row_number() OVER (ORDER BY as_of) AS run_no
    FROM (SELECT as_of FROM marts.segment_history WHERE account = $account UNION SELECT CAST($as_of AS DATE))
),
memberships AS (
    SELECT
        h.customer_id,
        h.segment,
        h.as_of,
        r.run_no,
        r.run_no - row_number() OVER (PARTITION BY h.customer_id, h.segment ORDER BY r.run_no) AS island
    FROM marts.segment_history AS h
    JOIN runs AS r USING (as_of)
    WHERE h.account = $account
),
spells AS (
    SELECT customer_id, segment, min(as_of) AS entered_on, max(run_no) AS last_run
    FROM memberships
    GROUP BY customer_id, segment, island
)
SELECT
    $account AS account,
    s.customer_id,
    s.segment,
    s.entered_on,
    next_run.as_of AS left_on,
    (SELECT max(as_of) FROM runs) AS as_of
FROM spells AS s
LEFT JOIN runs AS next_run ON next_run.run_no = s.last_run + 1
