"""Bayesian CLV models (fits on distinct rows) and their posterior arithmetic."""
