"""Holdout backtests of the purchase models: fit up to a cutoff, predict the holdout, compare.

Pure numpy/pandas on the frames the evaluation assets read with the project's own SQL:

- :mod:`~clv_assets.stats.evaluation.backtest`: the window and what each model predicts
  for the holdout (per-customer predictive summaries, the tracking curve);
- :mod:`~clv_assets.stats.evaluation.metrics`: those predictions scored against what the
  customers did (the scorecard's figures and the decile calibration);
- :mod:`~clv_assets.stats.evaluation.choice`: the model ``auto`` uses, from the scores;
- :mod:`~clv_assets.stats.evaluation.lift`: what each segment's members did in the holdout
  against their comparison group, with bootstrap intervals.

The tracking and calibration plots are in :mod:`clv_assets.stats.plots`.
"""
