"""BG/NBD posterior quantities (clv_assets.stats.purchase.bgnbd): pure numpy/scipy.

Reference values come from

* pymc-marketing's own ``BetaGeoModel`` methods, fed a fake posterior;
* Monte-Carlo simulation of the BG/NBD purchase/dropout process;
* direct numerical integration.
"""

from __future__ import annotations

import numpy as np
import pytest
from model_draws import ACTIVE, CDNOW, DRAWS, HIST, N_DRAWS, N_ROWS, draws_rows, fake_fit, histories_frame
from scipy import integrate, optimize, special, stats

from clv_assets.stats.purchase import bgnbd, mbgnbd

pytestmark = pytest.mark.fast


# --------------------------------------------------------------------------- #
# pymc-marketing reference values
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def beta_geo():
    """BetaGeoModel with a fake (1 chain x 6 draws) posterior."""
    from pymc_marketing.clv import BetaGeoModel

    df = histories_frame()
    return fake_fit(BetaGeoModel(), DRAWS, df), df


def test_p_alive_matches_pymc_marketing(beta_geo):
    bg, df = beta_geo
    expected = draws_rows(bg.expected_probability_alive(df))
    got = bgnbd.bgnbd_p_alive(**DRAWS, **HIST)
    assert got.shape == (N_DRAWS, N_ROWS)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_p_alive_has_the_bits_of_its_closed_form():
    """P(alive), computed once per distinct frequency where it can, equals the closed form
    [1 + 1{x>0} exp(log odds)]^-1 as expit(-log odds) element by element, bit for bit."""
    rng = np.random.default_rng(2)
    x = np.sort(rng.poisson(2.0, 300)).astype(float)
    T = rng.integers(1, 700, 300).astype(float)
    t_x = np.where(x > 0, np.floor(rng.random(300) * T), 0.0)
    r, alpha, a, b = (np.asarray(DRAWS[k], float)[:, None] for k in ("r", "alpha", "a", "b"))
    log_odds = np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    expected = np.where(x > 0, special.expit(-log_odds), 1.0)
    np.testing.assert_array_equal(bgnbd.bgnbd_p_alive(**DRAWS, x=x, t_x=t_x, T=T), expected)


@pytest.mark.parametrize("t", [1.0, 30.0, 365.0])
def test_expected_purchases_matches_pymc_marketing(beta_geo, t):
    bg, df = beta_geo
    expected = draws_rows(bg.expected_purchases(df, future_t=t))
    got = bgnbd.bgnbd_expected_purchases(**DRAWS, **HIST, t=t)
    assert got.shape == (N_DRAWS, N_ROWS)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("t", [1.0, 30.0, 365.0])
def test_prob_no_purchase_matches_pymc_marketing_for_repeat_customers(beta_geo, t):
    bg, df = beta_geo
    expected = draws_rows(bg.expected_probability_no_purchase(t, df))
    got = bgnbd.bgnbd_prob_n_purchases(**DRAWS, **HIST, t=t, n=0)
    repeat = HIST["x"] > 0
    np.testing.assert_allclose(got[:, repeat], expected[:, repeat], rtol=1e-10)


def test_prob_no_purchase_x0_convention_differs_from_pymc_marketing(beta_geo):
    """Documented difference: pymc-marketing drops the 1{x>0} indicator.

    For x = 0 the BG/NBD customer cannot have died (dropout only follows a repeat
    purchase), so P(X(T, T+t) = 0) = ((alpha + T)/(alpha + T + t))^r; the
    simulation test below confirms this value.  pymc-marketing 1.3.0 returns a
    larger number (or NaN/garbage when b <= 1).
    """
    bg, df = beta_geo
    t = 30.0
    pm_vals = draws_rows(bg.expected_probability_no_purchase(t, df))
    got = bgnbd.bgnbd_prob_n_purchases(**DRAWS, **HIST, t=t, n=0)
    zero = HIST["x"] == 0
    r, alpha = DRAWS["r"][:, None], DRAWS["alpha"][:, None]
    T = HIST["T"][zero][None, :]
    np.testing.assert_allclose(got[:, zero], ((alpha + T) / (alpha + T + t)) ** r, rtol=1e-12)
    b_gt_1 = DRAWS["b"] > 1
    assert np.all(pm_vals[b_gt_1][:, zero] > got[b_gt_1][:, zero])


# --------------------------------------------------------------------------- #
# Monte-Carlo simulation of the BG/NBD process
# --------------------------------------------------------------------------- #
def simulate_future_counts(r, alpha, a, b, x, t_x, T, t, n_sims, rng, max_count=3):
    """Sample X(T, T+t) (capped at ``max_count``) given the history (x, t_x, T).

    Exact conditioning on the continuous recency without the closed forms under
    test: given (lambda, p), the density of observing the x repeat purchases at
    their (irrelevant) times with the last at t_x, and surviving the dropout
    coins of the first x - 1 of them, is lambda^x e^{-lambda t_x} (1-p)^{x-1}.
    Hence (lambda, p | purchases up to t_x) ~ Gamma(r + x, alpha + t_x) x
    Beta(a, b + max(x - 1, 0)) (for x = 0, t_x = 0 this is just the prior).
    From t_x on the process is *simulated*: the dropout coin after the x-th
    purchase (none after the first purchase at time 0, i.e. when x = 0), then
    exponential inter-purchase times and a coin after every purchase; paths
    with a purchase in (t_x, T] contradict the history and are rejected.
    Purchases in (T, T + t] of the accepted paths are counted.
    """
    lam = rng.gamma(r + x, 1.0 / (alpha + t_x), n_sims)
    p = rng.beta(a, b + max(x - 1, 0), n_sims)
    alive = np.ones(n_sims, bool) if x == 0 else rng.random(n_sims) >= p
    nxt = t_x + rng.exponential(1.0 / lam)
    accept = ~alive | (nxt > T)
    count = np.zeros(n_sims, int)
    for _ in range(max_count):
        hit = alive & (nxt <= T + t)
        count += hit
        alive = hit & (rng.random(n_sims) >= p)
        nxt = nxt + rng.exponential(1.0 / lam)
    return count[accept]


@pytest.mark.parametrize(
    "params, x, t_x, T, t",
    [
        (CDNOW, 0, 0.0, 100.0, 60.0),
        (CDNOW, 2, 30.0, 120.0, 90.0),
        (CDNOW, 10, 200.0, 250.0, 60.0),
        (ACTIVE, 0, 0.0, 30.0, 40.0),
        (ACTIVE, 1, 0.0, 40.0, 60.0),
        (ACTIVE, 3, 50.0, 80.0, 40.0),
        (ACTIVE, 12, 150.0, 160.0, 30.0),
    ],
)
def test_prob_n_purchases_matches_simulation(params, x, t_x, T, t):
    rng = np.random.default_rng(20240611 + 97 * x + int(T))
    counts = simulate_future_counts(**params, x=x, t_x=t_x, T=T, t=t, n_sims=250_000, rng=rng)
    n_acc = counts.size
    assert n_acc > 20_000
    probs = {
        n: float(bgnbd.bgnbd_prob_n_purchases(**params, x=x, t_x=t_x, T=T, t=t, n=n)[0, 0])
        for n in (0, 1, 2)
    }
    probs[3] = 1.0 - probs[0] - probs[1] - probs[2]  # P(X >= 3)
    for n, prob in probs.items():
        p_hat = np.mean(counts == n)
        se = np.sqrt(max(prob * (1 - prob), 1e-12) / n_acc)
        assert abs(p_hat - prob) < 4 * se + 1e-4, (n, p_hat, prob, se)
    # P(alive) via the same simulation: P(X >= 1) <= P(alive), and P(>=1) = 1 - P(0)
    p_any = bgnbd.bgnbd_prob_at_least_one_purchase(**params, x=x, t_x=t_x, T=T, t=t)[0, 0]
    np.testing.assert_allclose(p_any, 1.0 - probs[0], rtol=1e-10, atol=1e-15)


def test_x0_by_plain_rejection_from_prior():
    """x = 0 conditioned by brute-force rejection: full process from time 0."""
    rng = np.random.default_rng(7)
    n, T, t = 300_000, 20.0, 50.0
    prm = ACTIVE
    lam = rng.gamma(prm["r"], 1.0 / prm["alpha"], n)
    p = rng.beta(prm["a"], prm["b"], n)
    times = np.cumsum(rng.exponential(1.0 / lam[:, None], (n, 4)), axis=1)
    # coin after each repeat purchase: purchase k+1 happens only if alive after k
    survive = rng.random((n, 4)) >= p[:, None]
    happened = np.ones((n, 4), bool)
    happened[:, 1:] = np.cumprod(survive[:, :-1], axis=1).astype(bool)
    keep = times[:, 0] > T  # history: no repeat purchase in (0, T]
    in_window = happened & (times > T) & (times <= T + t)
    count = in_window[keep].sum(axis=1)
    for k in (0, 1, 2):
        prob = bgnbd.bgnbd_prob_n_purchases(**prm, x=0, t_x=0.0, T=T, t=t, n=k)[0, 0]
        se = np.sqrt(prob * (1 - prob) / keep.sum())
        assert abs(np.mean(count == k) - prob) < 4 * se + 1e-4


# --------------------------------------------------------------------------- #
# internal consistency and numerical stability
# --------------------------------------------------------------------------- #
def _quad_expected_purchases(r, alpha, a, b, x, t_x, T, t):
    """P(alive) * int Beta(p; a, b + x) (1 - (alpha'/(alpha' + p t))^{r'}) / p dp."""
    p_alive = bgnbd.bgnbd_p_alive(r, alpha, a, b, x, t_x, T)[0, 0]
    r1, a1 = r + x, alpha + T

    def integrand(p):
        return stats.beta.pdf(p, a, b + x) * -np.expm1(-r1 * np.log1p(p * t / a1)) / p

    return p_alive * integrate.quad(integrand, 0.0, 1.0, limit=200)[0]


@pytest.mark.parametrize(
    "x, t_x, T, t",
    [(0, 0.0, 0.0, 30.0), (1, 0.0, 50.0, 10.0), (40, 250.0, 260.0, 365.0),
     (2000, 364.0, 365.0, 365.0), (2000, 100.0, 365.0, 90.0), (5, 60.0, 90.0, 1e-4)],
)
def test_expected_purchases_matches_quadrature_incl_large_x(x, t_x, T, t):
    for d in range(N_DRAWS):
        prm = {k: v[d] for k, v in DRAWS.items()}
        got = bgnbd.bgnbd_expected_purchases(**prm, x=x, t_x=t_x, T=T, t=t)[0, 0]
        ref = _quad_expected_purchases(**prm, x=x, t_x=t_x, T=T, t=t)
        assert np.isfinite(got)
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-300)


@pytest.mark.parametrize(
    "r, alpha, a, b, x, t_x, T, t",
    [
        (0.5, 30.0, 1200.0, 3000.0, 2, 60.0, 100.0, 273.0),
        (1.6, 100.0, 1255.0, 3683.0, 0, 0.0, 30.0, 365.0),
        (0.3, 5.0, 650.0, 0.05, 0, 0.0, 10.0, 30.0),
        (0.25, 20.9, 987.0, 1816.0, 11, 70.0, 80.8, 273.0),
    ],
)
def test_expected_purchases_with_large_a_matches_simulation(r, alpha, a, b, x, t_x, T, t):
    """Large a (kappa = a + b in the Pareto tail of its prior: a few % of the draws of a
    small account's own-prior fit) where Euler's form of the hypergeometric term is 0 * inf
    or negative: the expectation is finite and agrees with a simulation of the process
    (~1 s each)."""
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        euler = np.exp((a - 1.0) * np.log1p(-z)) * special.hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    assert not (np.isfinite(euler) and 0.0 <= euler <= 1.0)  # the case the fall-back exists for
    got = bgnbd.bgnbd_expected_purchases(r, alpha, a, b, x, t_x, T, t)[0, 0]
    rng = np.random.default_rng(int(a) + x)
    counts = simulate_future_counts(r, alpha, a, b, x, t_x, T, t, n_sims=200_000, rng=rng, max_count=40)
    assert counts.size > 20_000 and counts.max() < 40  # the cap never binds
    assert abs(got - counts.mean()) < 4 * counts.std() / np.sqrt(counts.size), (got, counts.mean())
    mbg = mbgnbd.mbgnbd_expected_purchases(r, alpha, a, b, x, t_x, T, t)
    assert np.all(np.isfinite(mbg)) and np.all(mbg >= 0)


def test_non_finite_expected_purchases_is_an_error():
    with pytest.raises(ValueError, match="non-finite"):
        bgnbd.bgnbd_expected_purchases(np.nan, 30.0, 2.0, 3.0, 1, 10.0, 50.0, 30.0)


@pytest.mark.parametrize("a", [1.0 - 1e-3, 1.0 - 3e-6, 1.0, 1.0 + 1e-10, 1.0 + 1e-5])
def test_expected_purchases_near_removable_singularity_a_equals_one(a):
    for x, t_x, b in [(0, 0.0, 0.3), (3, 50.0, 2.0), (500, 90.0, 1.5)]:
        got = bgnbd.bgnbd_expected_purchases(0.5, 30.0, a, b, x, t_x, 100.0, 60.0)[0, 0]
        ref = _quad_expected_purchases(0.5, 30.0, a, b, x, t_x, 100.0, 60.0)
        np.testing.assert_allclose(got, ref, rtol=1e-8)


def test_pmf_sums_to_one_and_mean_matches_expected_purchases():
    t = 60.0
    ns = np.arange(0, 600)
    pmf = np.stack([bgnbd.bgnbd_prob_n_purchases(**DRAWS, **HIST, t=t, n=n) for n in ns])
    assert np.all(pmf >= 0) and np.all(np.isfinite(pmf))
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, rtol=1e-9)
    mean = (ns[:, None, None] * pmf).sum(axis=0)
    np.testing.assert_allclose(mean, bgnbd.bgnbd_expected_purchases(**DRAWS, **HIST, t=t), rtol=1e-8)


def test_extreme_histories_are_finite_and_bounded():
    x = np.array([0, 0, 1, 5000, 5000, 5000, 3])
    t_x = np.array([0.0, 0.0, 0.0, 3650.0, 10.0, 0.0, 1e-9])
    T = np.array([0.0, 1e5, 1e5, 3650.0, 3650.0, 3650.0, 1e5])
    pa = bgnbd.bgnbd_p_alive(**DRAWS, x=x, t_x=t_x, T=T)
    assert np.all(np.isfinite(pa)) and np.all((pa >= 0) & (pa <= 1))
    np.testing.assert_array_equal(pa[:, :2], 1.0)
    np.testing.assert_allclose(pa[:, 3], 1.0 / (1.0 + DRAWS["a"] / (DRAWS["b"] + 4999)), rtol=1e-12)
    for t in (0.0, 1e-6, 30.0, 1e4):
        e = bgnbd.bgnbd_expected_purchases(**DRAWS, x=x, t_x=t_x, T=T, t=t)
        assert np.all(np.isfinite(e)) and np.all(e >= 0)
        for n in (0, 1, 2, 50):
            pn = bgnbd.bgnbd_prob_n_purchases(**DRAWS, x=x, t_x=t_x, T=T, t=t, n=n)
            assert np.all(np.isfinite(pn)) and np.all((pn >= 0) & (pn <= 1 + 1e-12))
    # t = 0: nothing can happen
    np.testing.assert_array_equal(bgnbd.bgnbd_expected_purchases(**DRAWS, x=x, t_x=t_x, T=T, t=0.0), 0.0)
    np.testing.assert_array_equal(bgnbd.bgnbd_prob_n_purchases(**DRAWS, x=x, t_x=t_x, T=T, t=0.0, n=0), 1.0)
    # tiny t: P(>=1) ~ P(alive) (r + x) t / (alpha + T) without cancellation
    p1 = bgnbd.bgnbd_prob_at_least_one_purchase(**DRAWS, x=x, t_x=t_x, T=T, t=1e-12)
    approx = pa * (DRAWS["r"][:, None] + x) * 1e-12 / (DRAWS["alpha"][:, None] + T)
    np.testing.assert_allclose(p1, approx, rtol=1e-6)


def test_shapes_and_scalar_broadcasting():
    prm = {k: v[0] for k, v in DRAWS.items()}
    assert bgnbd.bgnbd_p_alive(**prm, **HIST).shape == (1, N_ROWS)
    assert bgnbd.bgnbd_p_alive(**DRAWS, x=2, t_x=10.0, T=50.0).shape == (N_DRAWS, 1)
    t_rows = np.linspace(1, 100, N_ROWS)
    e = bgnbd.bgnbd_expected_purchases(**DRAWS, **HIST, t=t_rows)
    assert e.shape == (N_DRAWS, N_ROWS)
    np.testing.assert_allclose(e[:, 4], bgnbd.bgnbd_expected_purchases(
        **DRAWS, x=HIST["x"][4], t_x=HIST["t_x"][4], T=HIST["T"][4], t=t_rows[4])[:, 0])
    n_rows = np.arange(N_ROWS) % 3
    pn = bgnbd.bgnbd_prob_n_purchases(**DRAWS, **HIST, t=30.0, n=n_rows)
    assert pn.shape == (N_DRAWS, N_ROWS)
    np.testing.assert_allclose(pn[:, 5], bgnbd.bgnbd_prob_n_purchases(
        **DRAWS, **HIST, t=30.0, n=int(n_rows[5]))[:, 5])
    with pytest.raises(ValueError):
        bgnbd.bgnbd_prob_n_purchases(**DRAWS, **HIST, t=30.0, n=-1)


# --------------------------------------------------------------------------- #
# time-to-next-purchase quantile
# --------------------------------------------------------------------------- #
def _mean_p_any(t, x, t_x, T, draws=DRAWS):
    return bgnbd.bgnbd_prob_at_least_one_purchase(**draws, x=x, t_x=t_x, T=T, t=t).mean(axis=0)


@pytest.mark.parametrize("q", [0.5, 0.2])
def test_time_to_next_purchase_quantile(q):
    draws = {k: v for k, v in DRAWS.items()}
    draws["r"] = DRAWS["r"] * 8  # make purchases likely enough to cross q within the horizon
    hist = dict(
        x=np.array([0, 1, 5, 10, 40, 2, 3]),
        t_x=np.array([0.0, 0.0, 60.0, 200.0, 250.0, 5.0, 300.0]),
        T=np.array([10.0, 50.0, 90.0, 250.0, 260.0, 2000.0, 300.0]),
    )
    horizon, tol = 730.0, 1e-4
    ts = bgnbd.bgnbd_time_to_next_purchase_quantile(**draws, **hist, q=q, horizon=horizon, tol=tol)
    assert ts.shape == (hist["x"].size,)
    reached = _mean_p_any(horizon, **hist, draws=draws) >= q
    np.testing.assert_array_equal(np.isfinite(ts), reached)
    assert reached.sum() >= 4 and (~reached).sum() >= 1  # x=2, t_x=5, T=2000 is ~surely dead
    ok = np.isfinite(ts)
    # P(at least one purchase in (T, T + t*)) ~= q, and t* is the first crossing
    hist_ok = {k: v[ok] for k, v in hist.items()}
    p_at = np.array([_mean_p_any(tt, **{k: v[[i]] for k, v in hist_ok.items()}, draws=draws)[0]
                     for i, tt in enumerate(ts[ok])])
    p_before = np.array([_mean_p_any(tt - tol, **{k: v[[i]] for k, v in hist_ok.items()}, draws=draws)[0]
                         for i, tt in enumerate(ts[ok])])
    assert np.all(p_at >= q) and np.all(p_before < q)
    np.testing.assert_allclose(p_at, q, atol=1e-4)
    # against a scalar root finder on the posterior-mean curve
    for i, tt in enumerate(ts[ok]):
        one = {k: v[[i]] for k, v in hist_ok.items()}
        root = optimize.brentq(lambda s: _mean_p_any(s, **one, draws=draws)[0] - q, 0.0, horizon, xtol=1e-10)
        assert abs(root - tt) <= tol


def test_time_to_next_purchase_quantile_short_horizon_and_validation():
    ts = bgnbd.bgnbd_time_to_next_purchase_quantile(**CDNOW, x=[0, 5], t_x=[0.0, 60.0], T=[10.0, 61.0], q=0.5, horizon=1.0)
    assert np.isnan(ts).all()
    with pytest.raises(ValueError):
        bgnbd.bgnbd_time_to_next_purchase_quantile(**CDNOW, x=[0], t_x=[0.0], T=[10.0], q=1.0)
