"""The Laplace approximation used for very large accounts agrees with NUTS."""

from __future__ import annotations

import shutil

import pytest
from clv_assets.lib.resources import warehouse_resource

from clv_assets.cli import main
from clv_assets.demo import write_demo_accounts
from clv_assets.lib.warehouse import read_query, run_sql
from clv_assets.models.fitting import fit, summarize
from clv_assets.models.purchase.bgnbd import BGNBD
from clv_assets.models.registry import GAMMA_GAMMA
from clv_assets.models.specs import FitSettings

ACCOUNT = "laplace-check"


@pytest.fixture(scope="module")
def big_account(workspace, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("big")
    (truth,) = write_demo_accounts(scratch, n_accounts=1, n_customers=20_000, seed=5)
    folder = workspace.landing / ACCOUNT
    shutil.move(scratch / truth["account"], folder)
    try:
        assert main(["materialize", "--account", ACCOUNT, "--as-of", workspace.as_of.isoformat()]) == 0
    finally:
        shutil.rmtree(folder)
    return workspace


@pytest.mark.parametrize("spec", [BGNBD, GAMMA_GAMMA], ids=lambda s: s.name)
def test_laplace_agrees_with_nuts(big_account, spec):
    nuts = big_account.query(
        "SELECT * FROM models.fits WHERE account = $a AND model = $m", {"a": ACCOUNT, "m": spec.name}
    ).set_index("parameter")
    assert (nuts.method == "mcmc").all()
    with warehouse_resource(big_account.warehouse).get_connection() as conn:
        rows = run_sql(conn, read_query(spec.training_rows), {"account": ACCOUNT}).df()
    laplace = summarize(fit(spec, rows, FitSettings(method="laplace")), spec.parameters).set_index("parameter")
    for parameter in spec.parameters:
        n, lap = nuts.loc[parameter], laplace.loc[parameter]
        assert abs(lap["mean"] - n["mean"]) <= 0.15 * n["sd"], (parameter, lap["mean"], n["mean"], n["sd"])
        assert abs(lap["sd"] / n["sd"] - 1) <= 0.15, (parameter, lap["sd"], n["sd"])
