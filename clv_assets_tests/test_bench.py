"""The benchmark's stage list covers every asset of clv_account_job, so no asset can be
left out of ``make bench``'s figures."""

import datetime
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def _bench():
    spec = importlib.util.spec_from_file_location("clv_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_stages_cover_every_asset_of_the_account_job():
    bench = _bench()
    staged = [key for keys in bench.STAGES.values() for key in keys]
    assert len(staged) == len(set(staged)), "an asset is listed under two stages"
    assert set(staged) == bench.job_asset_keys()


def test_distinct_generator_spreads_first_orders_over_three_years(tmp_path):
    """``--generator distinct``: first orders over the whole three-year window, ~3.6
    completed orders per customer, rejected rows as the demo's; ``demo`` stays the demo's."""
    import pyarrow.csv as pacsv

    bench = _bench()
    (truth,) = bench.write_accounts(tmp_path / "distinct", "distinct", n_accounts=1, n_customers=3000, seed=1)
    assert 3.2 < truth["n_completed_orders"] / 3000 < 4.0
    assert truth["n_cancelled"] and truth["n_refunded"] and sum(truth["bad_rows"].values()) == 18
    history = pacsv.read_csv(tmp_path / "distinct" / truth["account"] / "orders_history.csv").column("ordered_at")
    first_day = min(str(v)[:10] for v in history.to_pylist() if str(v)[:4].isdigit() and "-13-" not in str(v))
    assert (datetime.date.fromisoformat(truth["end"]) - datetime.date.fromisoformat(first_day)).days > 1000
    (demo,) = bench.write_accounts(tmp_path / "demo", "demo", n_accounts=1, n_customers=300, seed=1)
    assert demo["bgnbd"] != bench.GENERATORS["distinct"]["bgnbd"]
