-- marts.segment_members: the current members of every segment with what a campaign uses
-- (the customer's predictions, bands, best channel and since when they are a member):
-- the table an e-mail or ad tool's audience is exported from.
SELECT
    s.account,
    s.segment,
    s.cell,
    s.customer_id,
    s.as_of,
    c.entered_on AS member_since,
    p.p_order,
    p.purchase_probability,
    p.churn_probability,
    p.expected_orders,
    p.predicted_spend,
    p.expected_next_order_date,
    p.order_likelihood_band,
    p.spend_tier,
    p.best_channel,
    p.last_order_date,
    p.order_count,
    p.total_spend
FROM marts.customer_segments AS s
JOIN marts.customer_profile AS p USING (account, customer_id)
LEFT JOIN marts.segment_changes AS c
    ON c.account = s.account AND c.customer_id = s.customer_id AND c.segment = s.segment AND c.left_on IS NULL
WHERE s.account = $account
