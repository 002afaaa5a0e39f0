"""Real-data acceptance: CDNOW 1/10 sample through the real asset graph, as-of 1997-09-30.

Published MLEs (Fader, Hardie & Lee 2005) are in weeks; the warehouse works in days, so
alpha (a time scale) is compared as alpha_weeks * 7. r, a, b, p, q, gamma are unit-free
(gamma is pymc-marketing's v, in dollars).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clv_assets.cdnow import cdnow_orders as read_cdnow_orders
from clv_assets.cli import main

CDNOW = Path(__file__).parent / "fixtures" / "cdnow" / "CDNOW_sample.txt"
ACCOUNT = "cdnow-sample"
PUBLISHED = {
    ("bgnbd", "r"): 0.243,
    ("bgnbd", "alpha"): 4.414 * 7,
    ("bgnbd", "a"): 0.793,
    ("bgnbd", "b"): 2.426,
    ("gamma_gamma", "p"): 6.25,
    ("gamma_gamma", "q"): 3.74,
    ("gamma_gamma", "v"): 15.44,
}


def cdnow_orders() -> pd.DataFrame:
    return read_cdnow_orders(CDNOW)


@pytest.fixture(scope="module")
def cdnow_fits(workspace):
    folder = workspace.landing / ACCOUNT
    folder.mkdir()
    cdnow_orders().to_csv(folder / "cdnow.csv", index=False)
    try:
        assert main(["materialize", "--account", ACCOUNT, "--as-of", "1997-09-30"]) == 0
    finally:
        (folder / "cdnow.csv").unlink()
        folder.rmdir()
    return workspace.query("SELECT * FROM models.fits WHERE account = $a", {"a": ACCOUNT})


def test_cdnow_features_match_the_published_counts(workspace, cdnow_fits):
    rfm = workspace.query('SELECT frequency, "T" FROM features.rfm WHERE account = $a', {"a": ACCOUNT})
    assert len(rfm) == 2357
    assert rfm.frequency.sum() == 2457
    assert (rfm.frequency > 0).sum() == 946


@pytest.mark.parametrize("model, parameter", list(PUBLISHED))
def test_cdnow_posterior_recovers_the_published_estimates(cdnow_fits, model, parameter):
    row = cdnow_fits.set_index(["model", "parameter"]).loc[(model, parameter)]
    published = PUBLISHED[(model, parameter)]
    assert row.method == "mcmc" and row.diagnostics_passed
    assert abs(row["mean"] / published - 1) <= 0.10, (row["mean"], published)
    assert row.hdi_5 <= published <= row.hdi_95, (row.hdi_5, published, row.hdi_95)


def test_cdnow_first_order_value_is_the_only_covariate(workspace, cdnow_fits):
    """CDNOW has no channel column: every first order's channel is 'unknown' (rank 1), so the
    covariate models' channel indicators are 0 for everyone and the first order's value is
    their only covariate (the scorecard's covariate models rest on this)."""
    from clv_assets.stats.purchase.bgnbd_covariates import covariate_columns

    covariates = workspace.query("SELECT * FROM features.customer_covariates WHERE account = $a", {"a": ACCOUNT})
    assert len(covariates) == 2357
    assert set(covariates.first_channel) == {"unknown"} and set(covariates.first_channel_rank) == {1}
    assert covariates.first_order_value_z.mean() == pytest.approx(0, abs=1e-9)
    assert covariates.first_order_value_z.std(ddof=0) == pytest.approx(1)
    columns = covariate_columns(covariates)
    assert (columns[["channel_2", "channel_3", "channel_other"]] == 0).all().all()
    assert columns.value_z.nunique() >= 10
