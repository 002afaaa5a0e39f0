# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
export CLV_WAREHOUSE ?= $(CURDIR)/data/warehouse.duckdb
export CLV_LANDING_DIR ?= $(CURDIR)/data/landing
# PyTensor's and numba's compile caches: .venv/pytensor_cache and .venv/numba_cache (clv_assets/__init__.py)

.PHONY: setup demo ui test test-fast bench bench-10m bench-daily measurements docs lock clean postgres dashboard dashboard-serve dashboard-setup

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || "$$(scripts/find_python.sh)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock -e ".[test]" -c requirements.lock
	@# bytecode written now, once: with PYTHONDONTWRITEBYTECODE set (as on these machines) every
	@# new process would otherwise compile dagster, pymc and the rest from source (~10 s each)
	$(BIN)/python -m compileall -q clv_assets > /dev/null
	@# and the models compiled once into the caches, so a fresh clone's first accounts start warm
	$(BIN)/python scripts/warm_caches.py
	@touch $@

demo: setup
	$(BIN)/clv-assets demo
	$(BIN)/clv-assets materialize

ui: setup
	mkdir -p "$(DAGSTER_HOME)"
	$(BIN)/dg dev -w workspace.yaml -h 127.0.0.1 -p 3000

# the lake tests start a PostgreSQL server of their own (Debian's binaries)
postgres:
	scripts/ensure_postgres.sh

# one worker per core; a test file stays on one worker, so its module fixtures are built once
test: setup postgres dashboard-setup
	$(BIN)/python -m pytest -n auto --dist loadfile

# the marketers' dashboard (dashboard/): a static site built from the serving copy alone
# (CLV_SERVING, else the .serving.duckdb beside the warehouse), never the warehouse
dashboard: setup
	$(BIN)/python dashboard/build.py --out dashboard/build

dashboard-serve: dashboard
	@echo "dashboard on http://127.0.0.1:$${DASHBOARD_PORT:-8080}/ (Ctrl-C to stop)"
	$(BIN)/python -m http.server "$${DASHBOARD_PORT:-8080}" --bind 127.0.0.1 --directory dashboard/build

# the dashboard's browser test: Debian's chromium (apt-get) and the pinned Playwright driver
dashboard-setup: setup
	scripts/ensure_chromium.sh
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r dashboard/requirements.txt

# the inner loop: maths, CLI arguments, warehouse, SQL, layers and the definitions snapshot
test-fast: setup
	$(BIN)/python -m pytest -m fast

# the reference pages (docs/reference/) from the code; a test fails when they are stale
docs: setup
	$(BIN)/python -m clv_assets.reference

# the measurement pages (docs/measurements/), each written by the script that measures it;
# run them on a quiet machine: the figures are medians of wall times
bench: setup
	$(BIN)/python scripts/bench.py --sizes 100000 1000000 --generator demo distinct --no-naive --many 20 --customers 5000 --modes one-process workers \
	  --prediction-models 20000 --backtest --fits --markdown docs/measurements/performance.md

# 10M customers, one timed run (it takes minutes; the compile caches are warm from make bench)
bench-10m: setup
	$(BIN)/python scripts/bench.py --sizes 10000000 --generator demo distinct --repeat 1 --no-naive --no-warm-up \
	  --markdown docs/measurements/performance_10m.md

bench-daily: setup
	$(BIN)/python scripts/bench_daily.py --accounts 100 --customers 2000 --generator demo distinct --markdown docs/measurements/many_accounts.md

measurements: bench bench-10m bench-daily
	$(BIN)/python scripts/cdnow_scorecard.py --markdown docs/measurements/cdnow_scorecard.md
	$(BIN)/python scripts/segment_report.py --generate --markdown docs/measurements/segments.md
	$(BIN)/python scripts/pooled_backtest.py --sources cdnow demo pareto-mix seasonal-gifts --population auto \
	  --markdown docs/measurements/pooled_prior.md
	$(BIN)/python scripts/bench_audit.py --markdown docs/measurements/prediction_audit.md
	$(BIN)/python scripts/bench_sources.py --markdown docs/measurements/sources.md

lock: setup
	$(BIN)/uv pip freeze --python $(BIN)/python --exclude-editable | grep -v '^uv==' \
	  | sed '1i # Pinned versions of every dependency (resolved on Python 3.12). Regenerate: make lock' > requirements.lock

clean:
	rm -rf $(VENV) data
