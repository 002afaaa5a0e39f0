-- marts.segment_sizes: customers per segment (and cell) of the account, their share of the
-- account's customers and their predicted spend over the horizon.
WITH profile AS (
    SELECT customer_id, predicted_spend FROM marts.customer_profile WHERE account = $account
),
all_customers AS (SELECT count(*) AS n FROM profile)
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
ORDER BY s.segment, s.cell
