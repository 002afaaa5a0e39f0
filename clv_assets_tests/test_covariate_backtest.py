"""The holdout backtest with the covariate BG/NBD as a candidate: a real Dagster run on an
account whose first order's channel and value drive repeat buying, and on one where they
do not (issue 28)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv_assets import cdnow
from clv_assets.lib.resources import warehouse_resource

CHANNELS = ["web", "email", "social", "affiliate", "partner"]  # by rank; the last two pool as 'other'
START = pd.Timestamp("2024-01-01")
BASE = {"r": 0.6, "alpha": 60.0, "a": 0.8, "b": 3.0}
EFFECTS = {"rate": np.array([0.9, -0.6, 0.0, 0.5]), "a": np.array([-0.6, 0.5, 0.0, -0.3]), "b": np.array([0.4, 0.0, 0.0, 0.2])}
NO_EFFECTS = {k: np.zeros(4) for k in EFFECTS}


def simulate_orders(effects: dict, n: int = 3000, seed: int = 3, days: int = 540) -> pd.DataFrame:
    """BG/NBD customers born over the first two thirds of ``days``, whose first order's
    channel (rank 2, 3, other) and value (standard normal on the log scale) scale alpha,
    a and b as in stats/purchase/bgnbd_covariates.py; one order row per purchase."""
    rng = np.random.default_rng(seed)
    rank = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.25, 0.2, 0.1])
    value_z = rng.normal(0, 1, n)
    Z = np.column_stack([rank == 2, rank == 3, rank == 4, value_z]).astype(float)
    lam = rng.gamma(BASE["r"], 1.0 / (BASE["alpha"] * np.exp(-Z @ effects["rate"])))
    p = rng.beta(BASE["a"] * np.exp(Z @ effects["a"]), BASE["b"] * np.exp(Z @ effects["b"]))
    birth = rng.uniform(0, days * 2 / 3, n)
    rows = []
    for i in range(n):
        channel = CHANNELS[rank[i] - 1] if rank[i] < 4 else rng.choice(CHANNELS[3:])
        times, t = [birth[i]], birth[i]
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > days:
                break
            times.append(t)
            if rng.random() < p[i]:
                break
        for k, when in enumerate(times):
            rows.append({
                "order_id": f"o{i}-{k}", "customer_id": f"c{i:05d}",
                "ordered_at": (START + pd.Timedelta(days=float(when))).isoformat(),
                "amount": round(float(np.exp(3.5 + 0.6 * value_z[i])) if k == 0 else float(rng.gamma(2.0, 15.0)), 2),
                "currency": "EUR", "channel": channel if k == 0 else rng.choice(CHANNELS), "status": "completed",
            })
    return pd.DataFrame(rows)


def _backtest(tmp_path, account: str, orders: pd.DataFrame):
    import dagster as dg

    (tmp_path / "landing" / account).mkdir(parents=True)
    orders.to_csv(tmp_path / "landing" / account / "orders.csv", index=False)
    config = {"cutoff": "2024-12-31", "holdout_end": "2025-06-24", "candidates": ["bgnbd", "bgnbd_covariates"],
              "method": "mcmc", "predictive_draws": 200}
    with dg.instance_for_test() as instance:
        result = cdnow.materialize_backtest(
            account, tmp_path / "landing", tmp_path / "warehouse.duckdb", instance,
            {"ops": {"models__evaluation": {"config": config}}},
        )
    assert result.success
    with warehouse_resource(tmp_path / "warehouse.duckdb").get_connection() as conn:
        scores = conn.execute("SELECT * FROM models.evaluation WHERE account = $a", {"a": account}).df().set_index("model")
        choice = conn.execute("SELECT * FROM models.model_choice WHERE account = $a", {"a": account}).df().iloc[0]
        effects = conn.execute("SELECT * FROM models.evaluation_effects WHERE account = $a", {"a": account}).df()
    print(effects[["coefficient", "covariate", "level", "ratio", "ratio_p05", "ratio_p95"]].to_string())
    assert len(effects) == 12 and set(effects.level) == {"email", "social", "other channels", "first order value, +1 sd"}
    print(scores[["mae_orders", "aggregate_error_pct", "auc_one_time_repeat", "interval_coverage", "max_r_hat", "fit_seconds"]].to_string())
    print(choice.reason)
    return scores, choice


def test_backtest_scores_the_covariate_model_and_records_why_it_wins(tmp_path):
    scores, choice = _backtest(tmp_path, "cov-effects", simulate_orders(EFFECTS))
    with warehouse_resource(tmp_path / "warehouse.duckdb").get_connection() as conn:
        rate = conn.execute(
            "SELECT covariate, ratio_p05, ratio_p95 FROM models.evaluation_effects WHERE coefficient = 'purchase_coefficient_alpha'"
        ).df().set_index("covariate")
    # the rate effects' directions (coverage is test_bgnbd_covariates.py's, on 5,000 customers;
    # in this 3,000-customer sample the 'other' channel's first buyers happen to repeat more:
    # mean calibration frequency 1.94 against 1.13 for the reference channel, seeds 5 and 6 ~equal)
    assert rate.ratio_p05["channel_2"] > 1 and rate.ratio_p95["channel_3"] < 1 and rate.ratio_p05["value_z"] > 1
    assert scores.loc["bgnbd_covariates", "auc_one_time_repeat"] > scores.loc["bgnbd", "auc_one_time_repeat"]
    assert scores.loc["bgnbd_covariates", "mae_orders"] < scores.loc["bgnbd", "mae_orders"]
    assert scores.loc["bgnbd_covariates", "max_r_hat"] < 1.05
    # it wins and is chosen: models/purchase_model fits and serves it (test_covariate_serving.py)
    assert choice.chosen_model == "bgnbd_covariates"
    assert choice.reason.startswith("bgnbd_covariates over bgnbd: lower mae_orders") and "not served" not in choice.reason


def test_without_effects_the_choice_keeps_the_model_without_covariates(tmp_path):
    scores, choice = _backtest(tmp_path, "cov-none", simulate_orders(NO_EFFECTS, seed=4))
    assert choice.chosen_model == "bgnbd" and "bgnbd_covariates not taken" in choice.reason


def test_a_backtest_without_covariate_candidates_leaves_a_typed_empty_effects_table(tmp_path):
    import dagster as dg

    (tmp_path / "landing" / "plain").mkdir(parents=True)
    simulate_orders(NO_EFFECTS, n=600, seed=4).to_csv(tmp_path / "landing" / "plain" / "orders.csv", index=False)
    config = {"cutoff": "2024-12-31", "holdout_end": "2025-06-24", "candidates": ["bgnbd"], "method": "laplace", "predictive_draws": 100}
    with dg.instance_for_test() as instance:
        result = cdnow.materialize_backtest(
            "plain", tmp_path / "landing", tmp_path / "warehouse.duckdb", instance, {"ops": {"models__evaluation": {"config": config}}}
        )
    assert result.success
    with warehouse_resource(tmp_path / "warehouse.duckdb").get_connection() as conn:
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'evaluation_effects'"
        ).fetchall())
        assert conn.execute("SELECT count(*) FROM models.evaluation_effects").fetchone() == (0,)
    assert types["model"] == types["level"] == "VARCHAR" and types["ratio_p95"] == "DOUBLE"
