"""nutpie's callbacks compiled once per machine: the same draws as nutpie's own compile,
for the first account's data and for another account's swapped in, and a new process
loads both callbacks from numba's cache instead of compiling them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from clv_assets.demo import simulate_bgnbd_histories
from clv_assets.stats.nutpie_cache import compile_pymc_model
from clv_assets.stats.purchase.bgnbd import BGNBD

SAMPLE = {"draws": 200, "tune": 200, "chains": 2, "cores": 2, "seed": 5, "progress_bar": False}


def _rows(n: int, seed: int):
    return simulate_bgnbd_histories(n, seed, 0.3, 26.4, 0.9, 4.0)


def _sample(compiled, rows):
    import nutpie

    idata = nutpie.sample(compiled.with_data(**BGNBD.data(rows)), **SAMPLE)
    return idata


def test_cached_callbacks_give_nutpies_draws_bit_for_bit():
    import nutpie

    first, second = _rows(800, seed=21), _rows(1_300, seed=22)
    pm_model = BGNBD.build(first)
    ours, theirs = compile_pymc_model(pm_model), nutpie.compile_pymc_model(pm_model, backend="numba")
    for rows in (first, second):
        a, b = _sample(ours, rows), _sample(theirs, rows)
        for name in (*BGNBD.parameters, *BGNBD.latent):
            np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values, err_msg=name)
        np.testing.assert_array_equal(a.sample_stats["diverging"].values, b.sample_stats["diverging"].values)
        np.testing.assert_array_equal(a.sample_stats["n_steps"].values, b.sample_stats["n_steps"].values)


_NEW_PROCESS = """
import json
from clv_assets.demo import simulate_bgnbd_histories
from clv_assets.stats.nutpie_cache import compile_pymc_model
from clv_assets.stats.purchase.bgnbd import BGNBD
compiled = compile_pymc_model(BGNBD.build(simulate_bgnbd_histories(500, 3, 0.3, 26.4, 0.9, 4.0)))
print(json.dumps([compiled.compiled_logp_func._cache_hits, compiled.compiled_expand_func._cache_hits]))
"""


def test_a_new_process_loads_the_callbacks_from_the_cache():
    compile_pymc_model(BGNBD.build(_rows(400, seed=2)))  # the cache is written (if it was not yet)
    done = subprocess.run([sys.executable, "-c", _NEW_PROCESS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [1, 1]
