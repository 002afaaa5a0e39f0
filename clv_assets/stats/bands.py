"""The labels of every band, lowest band first (the cut-offs are in ``defs/bands/thresholds.py``)."""

RELATIVE_LABELS = ("Well below average", "Below average", "Average", "Above average", "Well above average")
PROBABILITY_LABELS = ("Small", "Medium", "High", "Very high")
ORDER_LIKELIHOOD_LABELS = ("Unlikely to order", "Likely to order", "Likely to order multiple times")
SPEND_TIER_LABELS = ("Low", "Medium", "High")
