-- marts.segment_sizes: customers per segment (and cell) of the account, their share of the
-- account's customers and their predicted spend over the horizon, with each segment's
-- label and one-line description from segments.yaml (temp table segment_definitions).
WITH profile AS (
    SELECT customer_id, predicted_spend FROM marts.customer_profile WHERE account = $account
),
all_customers AS (SELECT count(*) AS n FROM profile),
sizes AS (
    SELECT
        s.account,
        s.segment,
        s.cell,
        any_value(s.as_of) AS as_of,
        count(*) AS customers,
        count(*) / any_value(all_customers.n) AS share_of_customers,
        avg(p.predicted_spend) AS avg_predicted_spend,
        sum(p.predicted_spend) AS total_predicted_spend
    FROM marts.customer_segments AS s
    JOIN profile AS p USING (customer_id)
    CROSS JOIN all_customers
    WHERE s.account = $account
    GROUP BY s.account, s.segment, s.cell
)
SELECT sizes.*, d.label, d.description
FROM sizes
LEFT JOIN segment_definitions AS d USING (segment)
ORDER BY sizes.segment, sizes.cell
