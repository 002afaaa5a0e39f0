"""The model choice of ``model: auto``: the best candidate of a holdout backtest.

Lowest per-customer MAE of holdout orders; candidates within :data:`CHOICE_TIE_TOLERANCE`
of the best MAE count as tied and the smallest |aggregate error| wins.

A covariate model (``COVARIATE_PURCHASE_MODELS``) is compared with its base model alone
and taken only where it wins on both counts: a lower MAE beyond the tie tolerance and a
higher one-time-buyer AUC (``auc_one_time_repeat``); a tie keeps the model without
covariates, the simpler one. The reason says which figures decided.
"""

from __future__ import annotations

import pandas as pd

from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, DEFAULT_PURCHASE_MODEL, PURCHASE_MODELS

CANDIDATES = tuple(PURCHASE_MODELS)
DEFAULT_MODEL = DEFAULT_PURCHASE_MODEL
CHOICE_SCORE = "mae_orders"
CHOICE_TIE_TOLERANCE = 0.005


def choose_model(scores: pd.DataFrame) -> dict:
    """The best candidate (:func:`choose_base_model` among the models without covariates),
    replaced by a covariate model of the same base where :func:`covariates_win`."""
    covariate = scores["model"].isin(list(COVARIATE_PURCHASE_MODELS))
    choice = choose_base_model(scores[~covariate].reset_index(drop=True))
    winner = scores[scores.model == choice["chosen_model"]].iloc[0]
    for row in scores[covariate].itertuples():
        if COVARIATE_PURCHASE_MODELS[row.model].base != winner.model:
            continue
        wins, why = covariates_win(row, winner)
        compared = choice["candidates_compared"] + f"; {row.model} {CHOICE_SCORE}={row.mae_orders:.4f} auc_one_time_repeat={row.auc_one_time_repeat:.4f}"
        if wins:
            return {"chosen_model": row.model, "score_name": CHOICE_SCORE, "score": float(row.mae_orders),
                    "reason": f"{row.model} over {winner.model}: {why}", "candidates_compared": compared}
        choice = {**choice, "reason": f"{choice['reason']}; {row.model} not taken: {why}", "candidates_compared": compared}
    return choice


def covariates_win(covariate, base) -> tuple[bool, str]:
    """Whether the covariate model's row beats its base model's row (both a scorecard row):
    MAE lower by more than the tie tolerance and a higher one-time-buyer AUC; and why."""
    mae = f"{CHOICE_SCORE} {covariate.mae_orders:.4f} vs {base.mae_orders:.4f}"
    auc = f"one-time-buyer AUC {covariate.auc_one_time_repeat:.4f} vs {base.auc_one_time_repeat:.4f}"
    better_mae = covariate.mae_orders < base.mae_orders * (1 - CHOICE_TIE_TOLERANCE)
    better_auc = bool(covariate.auc_one_time_repeat > base.auc_one_time_repeat)  # False when either is NaN
    if better_mae and better_auc:
        return True, f"lower {mae} and higher {auc}"
    failed = [f"{mae} (not lower by {CHOICE_TIE_TOLERANCE:.1%})"] if not better_mae else []
    failed += [f"{auc} (not higher)"] if not better_auc else []
    return False, "; ".join(failed)


def choose_base_model(scores: pd.DataFrame) -> dict:
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
