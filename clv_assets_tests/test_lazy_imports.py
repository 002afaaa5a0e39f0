"""A new process that loads the definitions (the CLI, the daemon, each run worker) does not
pay for the modelling stack: PyMC and friends load when a step that fits runs."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.fast

HEAVY = ("pymc", "pytensor", "pymc_extras", "pymc_marketing", "arviz", "scipy.stats", "scipy.optimize", "matplotlib")


def test_definitions_import_without_the_modelling_stack():
    # ~5-10 s: one new interpreter importing dagster and the definitions
    code = f"import sys, clv_assets.definitions; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
