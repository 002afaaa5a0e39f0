"""Fixed posterior draws and customer histories shared by the models' maths tests.

No sampling: parameters are fixed values (the CDNOW BG/NBD estimates of Fader, Hardie &
Lee 2005 converted from weeks to days, and small arbitrary "posterior" draw arrays around
CDNOW-like values). pymc-marketing's models get them as a fake posterior through
``model.idata`` (the attribute ``fit_result`` reads): :func:`fake_fit`.
"""

from __future__ import annotations

import warnings

import numpy as np

# CDNOW BG/NBD estimates (FHL 2005, weekly units) converted to days.
CDNOW = dict(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)
# A more active population, so that P(X = 1), P(X = 2) are sizeable.
ACTIVE = dict(r=2.0, alpha=40.0, a=1.5, b=4.0)

# Small arbitrary "posterior": 6 draws, includes a > 1 and b < 1 draws.
DRAWS = dict(
    r=np.array([0.243, 0.20, 0.30, 0.26, 0.22, 0.5]),
    alpha=np.array([30.898, 25.0, 40.0, 33.0, 28.0, 60.0]),
    a=np.array([0.793, 0.65, 1.3, 0.9, 2.1, 0.7]),
    b=np.array([2.426, 2.0, 3.5, 0.8, 4.0, 1.7]),
)
GG_DRAWS = dict(
    p=np.array([6.25, 5.5, 7.0, 6.0, 4.5, 8.0]),
    q=np.array([3.74, 3.2, 4.1, 2.5, 3.9, 5.0]),
    v=np.array([15.44, 14.0, 17.0, 12.0, 16.5, 20.0]),
)
# Customer histories (days): x = 0 customers (with and without T = 0),
# t_x = 0 with x > 0, large x, T >> t_x, t_x == T.
HIST = dict(
    x=np.array([0, 0, 1, 1, 2, 5, 10, 40, 150, 3]),
    t_x=np.array([0.0, 0.0, 0.0, 5.0, 30.0, 60.0, 200.0, 250.0, 299.5, 300.0]),
    T=np.array([0.0, 100.0, 50.0, 10.0, 120.0, 90.0, 250.0, 260.0, 300.0, 300.0]),
)
MONETARY = np.array([0.0, 0.0, 12.0, 30.0, 20.0, 45.5, 35.0, 18.0, 22.0, 80.0])
N_DRAWS = DRAWS["r"].size
N_ROWS = HIST["x"].size

# MBG/NBD and Pareto/NBD: CDNOW-like values in days (Pareto/NBD: Fader, Hardie & Lee 2005;
# alpha, beta in weeks x 7)
MBG_DRAWS = dict(
    r=np.array([0.25, 0.5, 1.2, 0.3]),
    alpha=np.array([31.0, 60.0, 20.0, 45.0]),
    a=np.array([0.8, 1.6, 0.55, 2.5]),
    b=np.array([2.4, 4.0, 0.7, 6.0]),
)
PNBD_DRAWS = dict(
    r=np.array([0.553, 0.4, 1.5, 0.8]),
    alpha=np.array([74.0, 30.0, 120.0, 60.0]),  # alpha < beta and alpha > beta both occur
    s=np.array([0.606, 1.4, 0.3, 1.001]),
    beta=np.array([81.7, 20.0, 200.0, 60.0]),
)
CANDIDATE_HIST = dict(
    x=np.array([0, 0, 1, 2, 5, 10, 30, 3]),
    t_x=np.array([0.0, 0.0, 0.0, 30.0, 60.0, 200.0, 250.0, 300.0]),
    T=np.array([0.0, 100.0, 50.0, 120.0, 90.0, 250.0, 260.0, 300.0]),
)


def histories_frame(hist: dict = HIST, monetary=MONETARY):
    """A pymc-marketing customer frame of ``hist`` (and ``monetary`` unless None)."""
    import pandas as pd

    frame = pd.DataFrame({"customer_id": np.arange(hist["x"].size), "frequency": hist["x"], "recency": hist["t_x"], "T": hist["T"]})
    return frame if monetary is None else frame.assign(monetary_value=monetary)


def fake_fit(model, draws: dict, data):
    """pymc-marketing ``model`` built on ``data`` with ``draws`` as a 1-chain posterior."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a T = 0 row triggers an "uninformative" warning
        model.build_model(data)  # predictive methods read self.model.coords
    # ``fit_result`` is ``idata["/posterior"]``; dims must be (chain, draw).
    model.idata = az.from_dict({"posterior": {k: np.asarray(v, float)[None, :] for k, v in draws.items()}})
    return model


def draws_rows(da) -> np.ndarray:
    """pymc-marketing (chain, draw, customer_id) DataArray -> (n_draws, n_rows)."""
    return da.transpose("chain", "draw", "customer_id").values.reshape(-1, da.sizes["customer_id"])


def posterior_around(model, n_draws: int = 8, spread: float = 0.5, seed: int = 0) -> dict[str, np.ndarray]:
    """``n_draws`` posterior-like draws of any registered ``model``: its
    ``typical_parameters`` times independent lognormal factors of log-sd ``spread`` (0.5:
    a draw of BG/NBD's a or Pareto/NBD's s on either side of 1, of Pareto/NBD's alpha on
    either side of beta)."""
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(spread * rng.standard_normal(n_draws)) for k, v in model.typical_parameters.items()}
