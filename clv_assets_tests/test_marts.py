"""Bands, segments, best channel and the BI marts, checked against independent computations."""

from __future__ import annotations

import json
import warnings

import arviz as az
import dagster as dg
import numpy as np
import pandas as pd
import pytest
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
from scipy.special import gammaln

from clv_assets.definitions import build_defs
from clv_assets.lib.segments import load_segments
from clv_assets.lib.prediction_config import PredictionConfig
from clv_assets.lib.draws import load_draws
from clv_assets.lib.resources import warehouse_resource
from clv_assets.stats.channels import channel_mix, fit_concentration

RELATIVE = ["Well below average", "Below average", "Average", "Above average", "Well above average"]
PROBABILITY = ["Small", "Medium", "High", "Very high"]
ABOVE = {"Above average", "Well above average"}
LIKELY = {"Likely to order", "Likely to order multiple times"}


def _profile(workspace, account: str) -> pd.DataFrame:
    return workspace.query("SELECT * FROM marts.customer_profile WHERE account = $a ORDER BY customer_id", {"a": account})


def _relative_band(ratio: pd.Series, cutoffs=(0.5, 0.8, 1.25, 2.0)) -> pd.Series:
    # written out as the README documents it: (lower, upper] bands of the ratio to the mean
    def one(r):
        for label, upper in zip(RELATIVE, cutoffs):
            if r <= upper:
                return label
        return RELATIVE[-1]

    return ratio.map(one)


def _probability_band(p: pd.Series) -> pd.Series:
    pct = np.floor(p * 100 + 0.5)
    return pd.Series(
        np.select([pct <= 25, pct <= 50, pct <= 75], PROBABILITY[:3], PROBABILITY[3]), index=p.index
    )


def _relative_probability_band(ratio: pd.Series) -> pd.Series:
    # purchase probability / account mean: Small <= 0.5, Medium <= 1, High <= 2, Very high above
    return pd.Series(np.select([ratio <= 0.5, ratio <= 1.0, ratio <= 2.0], PROBABILITY[:3], PROBABILITY[3]), index=ratio.index)


@pytest.fixture(scope="module")
def account(workspace) -> str:
    return workspace.truths[0]["account"]


def test_one_documented_profile_row_per_customer(workspace):
    for truth in workspace.truths:
        a = truth["account"]
        assert workspace.count("marts.customer_profile", a) == workspace.count("features.rfm", a)
    columns = workspace.query(
        "SELECT column_name, comment FROM duckdb_columns() "
        "WHERE schema_name = 'marts' AND table_name IN ('customer_profile', 'account_summary')"
    )
    assert len(columns) > 70
    undocumented = columns[columns.comment.isna() | (columns.comment.str.len() < 10)]
    assert undocumented.empty, list(undocumented.column_name)


def test_bands_follow_the_documented_cutoffs(workspace, account):
    p = _profile(workspace, account)
    orders = p.order_count
    expected_frequency = np.select([orders == 1, orders == 2, orders <= 4], ["1 order", "2 orders", "3-4 orders"], "5+ orders")
    assert (p.frequency_band == expected_frequency).all()
    assert (p.spend_band == _relative_band(p.total_spend / p.total_spend.mean())).all()
    assert (p.predicted_spend_band == _relative_band(p.predicted_spend / p.predicted_spend.mean())).all()
    assert (p.predicted_aov_band == _relative_band(p.expected_aov / p.expected_aov.mean())).all()
    # order likelihood relative to the account's average customer (default ratios 1.25)
    likelihood = np.select(
        [p.p_multiple_orders >= 1.25 * p.p_multiple_orders.mean(), p.p_order >= 1.25 * p.p_order.mean()],
        ["Likely to order multiple times", "Likely to order"],
        "Unlikely to order",
    )
    assert (p.order_likelihood_band == likelihood).all()
    assert (p.churn_band == _probability_band(p.churn_probability)).all()
    assert (p.purchase_probability_band == _relative_probability_band(p.purchase_probability / p.purchase_probability.mean())).all()
    low = max(np.quantile(p.predicted_spend, 0.3), 1.0)
    high = max(np.quantile(p.predicted_spend, 0.8), low)
    tier = np.select([p.predicted_spend <= low, p.predicted_spend <= high], ["Low", "Medium"], "High")
    assert (p.spend_tier == tier).all()
    assert (p.spend_tier == "High").mean() == pytest.approx(0.2, abs=0.02)
    # every level that the data allows is used, so a cut-off is not silently off
    assert set(p.spend_band) == set(RELATIVE)


def test_band_confidence_is_the_posterior_share_of_draws_in_the_band(workspace, account):
    p = _profile(workspace, account)
    with warehouse_resource(workspace.warehouse).get_connection() as conn:
        n = PredictionConfig().draws
        bg_draws, _ = load_draws(conn, account, "bgnbd", n)
        gg_draws, _ = load_draws(conn, account, "gamma_gamma", n)
    rfm = workspace.query(
        'SELECT customer_id, frequency, recency, "T", monetary_value FROM features.rfm WHERE account = $a ORDER BY customer_id',
        {"a": account},
    ).astype({"frequency": float, "recency": float, "T": float})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg, gg = BetaGeoModel(), GammaGammaModel()
        bg.build_model(rfm)
        gg.build_model(rfm[rfm.frequency > 0])
    n_draws = min(len(bg_draws["r"]), len(gg_draws["p"]))
    bg.idata = az.from_dict({"posterior": {k: bg_draws[k][None, :n_draws] for k in ("r", "alpha", "a", "b")}})
    gg.idata = az.from_dict({"posterior": {k: gg_draws[k][None, :n_draws] for k in ("p", "q", "v")}})
    purchases = bg.expected_purchases(rfm, future_t=365).values[0]  # (draws, customers)
    aov = gg.expected_customer_spend(rfm).values[0]
    spend = purchases * aov

    def share_in_band(ratio: np.ndarray, labels: pd.Series) -> np.ndarray:
        per_draw = np.stack([_relative_band(pd.Series(row)).to_numpy() for row in ratio])
        return (per_draw == labels.to_numpy()[None, :]).mean(axis=0)

    expected = share_in_band(spend / spend.mean(axis=1, keepdims=True), p.predicted_spend_band)
    np.testing.assert_allclose(p.predicted_spend_band_confidence, expected, atol=1.5 / n_draws)
    expected = share_in_band(aov / aov.mean(axis=1, keepdims=True), p.predicted_aov_band)
    np.testing.assert_allclose(p.predicted_aov_band_confidence, expected, atol=1.5 / n_draws)
    # churn = P(no order); pymc-marketing's agrees with the model for repeat buyers
    repeat = (rfm.frequency > 0).to_numpy()
    no_order = bg.expected_probability_no_purchase(365, rfm).values[0][:, repeat]
    per_draw = np.stack([_probability_band(pd.Series(row)).to_numpy() for row in no_order])
    expected = (per_draw == p.churn_band[repeat].to_numpy()[None, :]).mean(axis=0)
    np.testing.assert_allclose(p.churn_band_confidence[repeat], expected, atol=1.5 / n_draws)
    # purchase probability = P(order within 30 days): pymc-marketing's P(no purchase in 30 days)
    soon = 1.0 - bg.expected_probability_no_purchase(30, rfm).values[0][:, repeat]
    np.testing.assert_allclose(p.purchase_probability[repeat], soon.mean(axis=0), atol=1e-6)
    lo, hi = np.quantile(soon, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(p.purchase_probability_p05[repeat], lo, atol=1e-6)
    np.testing.assert_allclose(p.purchase_probability_p95[repeat], hi, atol=1e-6)
    assert (p.churn_probability_p05 <= p.churn_probability).all() and (p.churn_probability <= p.churn_probability_p95).all()
    # the relative bands' confidence compares with the account mean of the same draw
    # (the account mean per draw: the predictions' per-draw total over every customer)
    totals = workspace.query("SELECT * FROM predictions.account_draws WHERE account = $a ORDER BY draw", {"a": account})
    ratio = soon / (totals.expected_customers_purchasing.to_numpy()[:n_draws, None] / len(p))
    per_draw = np.stack([_relative_probability_band(pd.Series(row)).to_numpy() for row in ratio])
    expected = (per_draw == p.purchase_probability_band[repeat].to_numpy()[None, :]).mean(axis=0)
    np.testing.assert_allclose(p.purchase_probability_band_confidence[repeat], expected, atol=1.5 / n_draws)
    for band in ("predicted_spend_band", "order_likelihood_band", "spend_tier", "churn_band", "purchase_probability_band"):
        confidence = p[f"{band}_confidence"]
        assert confidence.between(0, 1).all()
    # uncertain customers exist and show it: the confidence is not a constant 1
    assert (p.predicted_spend_band_confidence < 0.9).any()


def test_segments_match_their_definitions(workspace, account):
    p = _profile(workspace, account).set_index("customer_id")
    one_time = p.frequency_band == "1 order"
    one_time_mean = p.p_order[one_time].mean()
    active = (p.order_count >= 2) | p.spend_band.isin(ABOVE)
    days_silent = (pd.to_datetime(p.as_of) - pd.to_datetime(p.last_order_date)).dt.days
    expected = {
        "one_time_buyers_likely_to_repeat": one_time & (p.p_order >= one_time_mean),
        "vip": p.spend_band.isin(ABOVE) & p.predicted_spend_band.isin(ABOVE),
        "future_vip": ~p.spend_band.isin(ABOVE) & p.predicted_spend_band.isin(ABOVE),
        "loyal_staying_loyal": p.frequency_band.isin(["3-4 orders", "5+ orders"]) & p.order_likelihood_band.isin(LIKELY),
        "becoming_loyal": (p.frequency_band == "2 orders") & (p.p_order >= p.p_order.mean()),
        "at_risk": active & (days_silent <= p.churn_horizon_days) & p.churn_band.isin(["High", "Very high"]),
        "lapsed_active_customers": active & (days_silent > p.churn_horizon_days) & p.churn_band.isin(["High", "Very high"]),
        "lapsed_one_time_buyers": one_time & p.churn_band.isin(["High", "Very high"]) & (p.p_order < one_time_mean),
    }
    segments = workspace.query("SELECT * FROM marts.customer_segments WHERE account = $a", {"a": account})
    for name, members in expected.items():
        got = set(segments.customer_id[segments.segment == name])
        assert got == set(p.index[members]), name
        assert got, f"{name} is empty on the test workspace"
    grid = segments[segments.segment == "purchase_churn_grid"].set_index("customer_id").cell
    assert len(grid) == len(p)
    assert (grid.sort_index() == ("purchase " + p.purchase_probability_band + " / churn " + p.churn_band).sort_index()).all()
    sizes = workspace.query("SELECT * FROM marts.segment_sizes WHERE account = $a", {"a": account})
    counted = segments.groupby(["segment", segments.cell.fillna("")]).size()
    assert dict(zip(zip(sizes.segment, sizes.cell.fillna("")), sizes.customers)) == counted.to_dict()
    assert sizes.description.str.len().gt(20).all()  # segments.yaml's one-line descriptions reach the table


def test_segments_are_targets_in_every_account(workspace):
    """Every shipped segment has members; none but the grid holds more than 60% of an
    account; the purchase x churn grid has at least 6 cells of >= 1% of the customers."""
    for truth in workspace.truths:
        a = truth["account"]
        n = workspace.count("marts.customer_profile", a)
        sizes = workspace.query(
            "SELECT segment, count(DISTINCT customer_id) AS n FROM marts.customer_segments WHERE account = $a GROUP BY segment",
            {"a": a},
        ).set_index("segment").n
        shipped = {s.name for s in load_segments()}
        assert set(sizes.index) == shipped, (a, shipped - set(sizes.index))
        assert (sizes.drop("purchase_churn_grid") <= 0.6 * n).all(), (a, sizes.to_dict())
        cells = workspace.query(
            "SELECT cell, count(*) AS n FROM marts.customer_segments WHERE account = $a AND segment = 'purchase_churn_grid' GROUP BY cell",
            {"a": a},
        )
        assert (cells.n >= 0.01 * n).sum() >= 6, (a, cells.to_dict("records"))


def test_segment_report_agrees_with_the_marts(workspace, account):
    """scripts/segment_report.py (the README's segment figures) against marts.segment_sizes,
    the profile's bands counted in pandas and scipy's Spearman correlation."""
    import importlib.util
    from pathlib import Path

    from scipy.stats import spearmanr

    spec = importlib.util.spec_from_file_location("segment_report", Path(__file__).resolve().parents[1] / "scripts" / "segment_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warehouse_resource(workspace.warehouse).get_connection() as conn:
        report = module.account_report(conn, account)
    sizes = workspace.query(
        "SELECT segment, sum(customers) AS n FROM marts.segment_sizes WHERE account = $a GROUP BY segment", {"a": account}
    ).set_index("segment").n
    assert report["sizes"].members.to_dict() == {s.name: sizes.get(s.name, 0) for s in load_segments()}
    p = _profile(workspace, account)
    cells = pd.crosstab(p.purchase_probability_band, p.churn_band) / len(p)
    assert report["cells_populated"] == int((cells.to_numpy() >= 0.01).sum())
    assert report["cells"].to_numpy().sum() == pytest.approx(1.0)
    assert report["rank_corr"] == pytest.approx(spearmanr(p.purchase_probability, p.churn_probability).statistic, abs=0.01)
    lift = pd.DataFrame({"segment": ["at_risk"], "members": [40], "order_rate_lift": [1.2], "order_rate_lift_p05": [0.9], "order_rate_lift_p95": [1.5]})
    assert any(line.startswith("at_risk") and line.endswith("FAILS") for line in module.claims(lift))


def test_best_channel_is_the_dirichlet_multinomial_posterior_mode(workspace, account):
    orders = workspace.query(
        "SELECT o.customer_id, o.channel FROM raw.orders o JOIN features.rfm f USING (account, customer_id) "
        "WHERE o.account = $a AND o.status = 'completed' AND o.channel IS NOT NULL "
        "AND CAST(o.ordered_at AS DATE) <= f.as_of",
        {"a": account},
    )
    mix = workspace.query("SELECT channel, share, concentration FROM predictions.account_channels WHERE account = $a", {"a": account})
    shares = orders.channel.value_counts(normalize=True)
    np.testing.assert_allclose(mix.set_index("channel").share.sort_index(), shares.sort_index(), rtol=1e-12)
    c = mix.concentration[0]
    counts = orders.groupby(["customer_id", "channel"]).size().unstack(fill_value=0).reindex(columns=shares.index, fill_value=0)
    posterior = (counts + c * shares) .div(counts.sum(axis=1) + c, axis=0)
    p = _profile(workspace, account).set_index("customer_id").loc[posterior.index]
    np.testing.assert_allclose(p.best_channel_probability, posterior.max(axis=1), rtol=1e-9)
    assert (posterior.to_numpy()[np.arange(len(p)), [list(posterior.columns).index(b) for b in p.best_channel]]
            == pytest.approx(posterior.max(axis=1).to_numpy()))

    # c maximises the Dirichlet-multinomial marginal likelihood (written out here)
    x = counts[counts.sum(axis=1) >= 2].to_numpy(float)

    def log_likelihood(conc):
        alpha = conc * shares.to_numpy()
        n = x.sum(axis=1)
        return np.sum(gammaln(conc) - gammaln(n + conc) + (gammaln(x + alpha) - gammaln(alpha)).sum(axis=1))

    assert log_likelihood(c) >= max(log_likelihood(c * 1.3), log_likelihood(c / 1.3))


def test_concentration_is_recovered_from_simulated_customers():
    rng = np.random.default_rng(5)
    shares = np.array([0.5, 0.3, 0.2])
    for true_c in (0.5, 5.0):
        theta = rng.dirichlet(true_c * shares, size=4000)
        n = rng.integers(1, 8, size=4000)
        x = np.array([rng.multinomial(k, t) for k, t in zip(n, theta)])
        # the distinct count vectors with their multiplicities, as the SQL hands them over
        vectors, customers = np.unique(x, axis=0, return_counts=True)
        histories = pd.DataFrame(
            [(i, ch, int(v), int(k)) for i, (row, k) in enumerate(zip(vectors, customers)) for ch, v in zip("abc", row) if v],
            columns=["history_id", "channel", "orders", "customers"],
        )
        mix = channel_mix(histories)
        np.testing.assert_allclose(mix.set_index("channel").share.loc[list("abc")], x.sum(axis=0) / x.sum())
        assert fit_concentration(histories, mix) == pytest.approx(true_c, rel=0.25)


def test_account_summary_matches_the_profile_and_the_per_draw_totals(workspace, account):
    s = workspace.query("SELECT * FROM marts.account_summary WHERE account = $a", {"a": account}).iloc[0]
    p = _profile(workspace, account)
    assert s.customers == len(p)
    assert s.repeat_buyer_share == pytest.approx((p.repeat_transactions > 0).mean())
    assert s.avg_predicted_spend == pytest.approx(p.predicted_spend.mean())
    assert s.avg_order_value == pytest.approx(p.total_spend.sum() / p.order_count.sum())
    assert s.predicted_revenue == pytest.approx(p.predicted_spend.sum())
    assert s.predicted_revenue_p05 < s.predicted_revenue < s.predicted_revenue_p95
    # the interval of a sum is much narrower than the sum of the customers' intervals
    assert s.predicted_revenue_p95 - s.predicted_revenue_p05 < 0.8 * (p.predicted_spend_p95 - p.predicted_spend_p05).sum()
    draws = workspace.query("SELECT * FROM predictions.account_draws WHERE account = $a", {"a": account})
    assert s.predicted_revenue == pytest.approx(draws.total_predicted_spend.mean(), rel=1e-9)
    assert s.predicted_revenue_p05 == pytest.approx(np.quantile(draws.total_predicted_spend, 0.05))
    assert dict(s.spend_tier_distribution) == p.spend_tier.value_counts().to_dict()
    assert sum(dict(s.channel_shares).values()) == pytest.approx(1.0)
    assert s.model_status == "bgnbd: fitted; gamma_gamma: fitted" and s.predicted


def _rerun_bands(account: str) -> dg.ExecuteInProcessResult:
    defs = build_defs()
    selection = dg.AssetSelection.assets(["bands", "thresholds"]).downstream()
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(selection.resolve(defs.resolve_asset_graph()))
    )
    return job.execute_in_process(instance=dg.DagsterInstance.get(), partition_key=account, raise_on_error=False)


def test_account_overrides_change_its_cutoffs_only(workspace, account):
    settings = workspace.landing / account / "_account.json"
    saved = settings.read_text() if settings.exists() else None
    before = _profile(workspace, account)
    other = workspace.truths[1]["account"]
    other_before = _profile(workspace, other)
    try:
        settings.write_text(json.dumps({**json.loads(saved or "{}"), "bands": {"relative_cutoffs": [0.2, 0.4, 3.0, 5.0], "order_likelihood_basis": "absolute", "likely_to_order": 0.3}}))
        assert _rerun_bands(account).success
        after = _profile(workspace, account)
        t = workspace.query("SELECT * FROM bands.thresholds WHERE account = $a", {"a": account}).iloc[0]
        assert list(t.relative_cutoffs) == [0.2, 0.4, 3.0, 5.0] and list(t.overridden_by_account) == ["likely_to_order", "order_likelihood_basis", "relative_cutoffs"]
        assert (after.spend_band == _relative_band(after.total_spend / after.total_spend.mean(), (0.2, 0.4, 3.0, 5.0))).all()
        assert (after.spend_band == "Average").mean() > (before.spend_band == "Average").mean()
        pd.testing.assert_frame_equal(_profile(workspace, other), other_before)
        # absolute order likelihood: P(>= 1 order) >= 0.3 or P(>= 2 orders) >= 0.5 (loyal_staying_loyal uses the band)
        loyal_likely = after[
            after.frequency_band.isin(["3-4 orders", "5+ orders"]) & ((after.p_order >= 0.3) | (after.p_multiple_orders >= 0.5))
        ].customer_id
        segment = workspace.query(
            "SELECT customer_id FROM marts.customer_segments WHERE account = $a AND segment = 'loyal_staying_loyal'",
            {"a": account},
        ).customer_id
        assert len(loyal_likely) > 0 and set(segment) == set(loyal_likely)

        settings.write_text(json.dumps({"bands": {"relative_cutoffs": [2.0, 1.0, 3.0, 5.0]}}))
        result = _rerun_bands(account)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert "relative_cutoffs must be positive and strictly increasing" in str(failure.event_specific_data.error.message)
        pd.testing.assert_frame_equal(_profile(workspace, account), after)  # nothing stored is touched
    finally:
        if saved is None:
            settings.unlink(missing_ok=True)
        else:
            settings.write_text(saved)
        assert _rerun_bands(account).success
    pd.testing.assert_frame_equal(
        _profile(workspace, account).drop(columns="predicted_at"), before.drop(columns="predicted_at")
    )
