"""clv_assets: customer lifetime value predictions as a Dagster asset graph on DuckDB."""

import os
import sys

# PyTensor's and numba's compile caches live beside the environment (.venv/pytensor_cache,
# .venv/numba_cache): every process of the project (make's, `.venv/bin/clv-assets` started
# by hand, its --workers, the UI, the tests) shares one cache, filled once by `make setup`,
# and the models compile once per machine, not in the user's home folder per user. Set
# before PyTensor or numba is imported; an explicit setting wins.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(sys.prefix, "numba_cache"))
if "base_compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
    _flags = [os.environ.get("PYTENSOR_FLAGS", ""), f"base_compiledir={os.path.join(sys.prefix, 'pytensor_cache')}"]
    os.environ["PYTENSOR_FLAGS"] = ",".join(flag for flag in _flags if flag)
