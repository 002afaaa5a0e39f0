"""The model choice of ``model: auto``: the best candidate of a holdout backtest.

Lowest per-customer MAE of holdout orders; candidates within :data:`CHOICE_TIE_TOLERANCE`
of the best MAE count as tied and the smallest |aggregate error| wins.
"""

from __future__ import annotations

import pandas as pd

from clv_assets.stats.registry import DEFAULT_PURCHASE_MODEL, PURCHASE_MODELS

CANDIDATES = tuple(PURCHASE_MODELS)
DEFAULT_MODEL = DEFAULT_PURCHASE_MODEL
CHOICE_SCORE = "mae_orders"
CHOICE_TIE_TOLERANCE = 0.005


def choose_model(scores: pd.DataFrame) -> dict:
    """The best candidate by holdout score: the model an account with ``model: auto`` uses.

    Score: lowest ``mae_orders`` (per-customer mean absolute error of holdout orders);
    candidates within 0.5% of the best MAE are tied and the smallest |aggregate error|
    among them wins.
    """
    compared = ", ".join(f"{r.model} {CHOICE_SCORE}={r.mae_orders:.4f} aggregate_error={r.aggregate_error_pct:+.2f}%" for r in scores.itertuples())
    best = scores[CHOICE_SCORE].min()
    tied = scores[scores[CHOICE_SCORE] <= best * (1 + CHOICE_TIE_TOLERANCE)]
    winner = tied.loc[tied["aggregate_error_pct"].abs().idxmin()] if len(tied) > 1 else tied.iloc[0]
    others = scores[scores.model != winner.model]
    if len(tied) > 1:
        reason = (
            f"{', '.join(tied.model)} tied on {CHOICE_SCORE} (within {CHOICE_TIE_TOLERANCE:.1%} of {best:.4f}); "
            f"{winner.model} has the smallest |aggregate error| ({winner.aggregate_error_pct:+.2f}%)"
        )
    else:
        runner = others.sort_values(CHOICE_SCORE).iloc[0] if len(others) else None
        reason = f"lowest {CHOICE_SCORE} {winner[CHOICE_SCORE]:.4f}" + (
            f" vs {runner.model} {runner[CHOICE_SCORE]:.4f}" if runner is not None else ""
        )
    return {
        "chosen_model": winner.model,
        "score_name": CHOICE_SCORE,
        "score": float(winner[CHOICE_SCORE]),
        "reason": reason,
        "candidates_compared": compared,
    }
