"""Compile what the graph compiles, once, into the environment's caches (``make setup``).

PyTensor's functions, nutpie's callbacks (``stats/nutpie_cache.py``) and the prediction
loops (``stats/numerics.py``) compile on first use and are cached on disk beside the
environment (``clv_assets/__init__.py``). On a fresh clone the first account of the
first command would pay that (~25 s per process, in every ``--workers`` process at
once); here one throwaway 1,000-customer demo account runs the whole job in a temporary
folder instead, so the user's first accounts start warm.

Usage: .venv/bin/python scripts/warm_caches.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    started = time.perf_counter()
    cli = str(Path(sys.executable).with_name("clv-assets"))
    with tempfile.TemporaryDirectory(prefix="clv-warm-") as root:
        env = {
            **os.environ,
            "CLV_WAREHOUSE": f"{root}/warehouse.duckdb",
            "CLV_LANDING_DIR": f"{root}/landing",
            "DAGSTER_HOME": f"{root}/dagster_home",
        }
        env.pop("CLV_DAGSTER_POSTGRES_URL", None)
        for argv in ([cli, "demo", "--accounts", "1", "--customers", "1000"], [cli, "materialize"]):
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"warm_caches: {' '.join(argv[1:])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}", file=sys.stderr)
                return done.returncode
    print(f"compile caches warm ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
