"""The model choice with a covariate candidate, and the one-time-buyer AUC of the scorecard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from clv_assets.stats.evaluation.choice import choose_model
from clv_assets.stats.evaluation.metrics import one_time_repeat_auc

pytestmark = pytest.mark.fast


def _scores(cov_mae: float, cov_auc: float) -> pd.DataFrame:
    return pd.DataFrame({
        "model": ["bgnbd", "mbgnbd", "pareto_nbd", "bgnbd_covariates"],
        "mae_orders": [0.50, 0.52, 0.60, cov_mae],
        "aggregate_error_pct": [-3.0, 2.0, 1.0, -1.0],
        "auc_one_time_repeat": [0.60, 0.60, 0.61, cov_auc],
    })


def test_a_covariate_model_is_chosen_only_where_it_wins_on_mae_and_one_time_buyer_auc():
    wins = choose_model(_scores(0.45, 0.66))
    assert wins["chosen_model"] == "bgnbd_covariates"
    assert wins["reason"] == "bgnbd_covariates over bgnbd: lower mae_orders 0.4500 vs 0.5000 and higher one-time-buyer AUC 0.6600 vs 0.6000"
    assert "bgnbd_covariates mae_orders=0.4500" in wins["candidates_compared"]
    tied = choose_model(_scores(0.499, 0.70))  # within the tie tolerance: the simpler model
    assert tied["chosen_model"] == "bgnbd" and "not taken: mae_orders 0.4990 vs 0.5000 (not lower by 0.5%)" in tied["reason"]
    worse_ranking = choose_model(_scores(0.40, 0.59))
    assert worse_ranking["chosen_model"] == "bgnbd" and "one-time-buyer AUC 0.5900 vs 0.6000 (not higher)" in worse_ranking["reason"]
    assert choose_model(_scores(0.40, float("nan")))["chosen_model"] == "bgnbd"


def test_without_a_covariate_candidate_the_choice_is_unchanged():
    scores = _scores(0.4, 0.7).iloc[:3]
    choice = choose_model(scores)
    assert choice["chosen_model"] == "bgnbd" and choice["reason"] == "lowest mae_orders 0.5000 vs mbgnbd 0.5200"


def test_a_covariate_model_competes_with_its_own_base_only():
    """Its base (BG/NBD) lost to MBG/NBD: the covariate BG/NBD is not compared."""
    scores = _scores(0.45, 0.9).assign(mae_orders=[0.55, 0.50, 0.60, 0.45])
    assert choose_model(scores)["chosen_model"] == "mbgnbd"


def test_one_time_repeat_auc_against_sklearn():
    rng = np.random.default_rng(4)
    frequency = rng.poisson(0.7, 2000).astype(float)
    expected = rng.gamma(1.0, 1.0, 2000)
    actual = rng.poisson(expected * 0.5)
    once = frequency == 0
    assert one_time_repeat_auc(expected, actual, frequency) == pytest.approx(roc_auc_score(actual[once] >= 1, expected[once]), rel=1e-12)
    assert np.isnan(one_time_repeat_auc(expected, np.zeros(2000), frequency))


def test_a_winning_covariate_model_is_chosen_and_served():
    """No fallback to the base model: the fit (models/purchase_model) serves the winner."""
    choice = choose_model(_scores(0.45, 0.66))
    assert choice["chosen_model"] == "bgnbd_covariates" and choice["reason"].startswith("bgnbd_covariates over bgnbd: lower")
    assert "not served" not in choice["reason"]
