"""The benchmark's stage list covers every asset of clv_account_job, so no asset can be
left out of ``make bench``'s figures."""

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
