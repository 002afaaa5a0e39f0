"""The labels of every band, lowest band first (the cut-offs are in ``lib/band_config.py``)."""

RELATIVE_LABELS = ("Well below average", "Below average", "Average", "Above average", "Well above average")
PROBABILITY_LABELS = ("Small", "Medium", "High", "Very high")
ORDER_LIKELIHOOD_LABELS = ("Unlikely to order", "Likely to order", "Likely to order multiple times")
SPEND_TIER_LABELS = ("Low", "Medium", "High")

# the label lists bound as SQL parameters of the band tables
LABELS = {
    "relative_labels": list(RELATIVE_LABELS),
    "probability_labels": list(PROBABILITY_LABELS),
    "order_likelihood_labels": list(ORDER_LIKELIHOOD_LABELS),
    "spend_tier_labels": list(SPEND_TIER_LABELS),
}
