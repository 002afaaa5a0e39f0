"""Benchmark: the whole of clv_account_job at 100k, 1M and 10M customers.

Prints figures; it is not a test. Per account size:

- end to end: ``clv-assets materialize`` as a new process, median of ``--repeat`` (3) runs
  after one warm-up run (which registers the partition and warms the compile caches).
  Peak memory two ways: GNU ``/usr/bin/time -v``'s "Maximum resident set size" (the
  kernel's ru_maxrss of the command and the descendants it waited for; without GNU time,
  os.wait4's ru_maxrss, the same figure), and the largest VmHWM (peak RSS) of any process
  of the command's process tree, read from /proc every 0.1 s while it runs, which also
  covers the multiprocess executor's step processes (children of a forkserver);
- per asset: the seconds of the step that materialised it, from the run's own event log
  (STEP_START to STEP_SUCCESS), and the largest RSS of that step's process sampled while
  the step ran (``clv-assets materialize`` runs a job's steps in one process).

At 100k it also runs the naive pymc-marketing way (customer-level fits with default MCMC,
then the ``expected_*`` methods over the full posterior) on the same features, and prints
ratios against our fit and prediction steps.

    .venv/bin/python scripts/bench.py [--sizes 100000 1000000 10000000] [--no-naive] [--repeat N]
    .venv/bin/python scripts/bench.py --landing DIR [--naive-too]   # your own account folders
    .venv/bin/python scripts/bench.py --many 20 --customers 5000 [--workers 2]   # many accounts
    .venv/bin/python scripts/bench.py --prediction-models 20000   # predictions per purchase model
    .venv/bin/python scripts/bench.py --backtest [--customers 5000] [--repeat 3]   # 3-candidate backtests
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF_OFFSET_DAYS = 30
# Every asset of clv_account_job, grouped for the printout in graph order
# (test_bench.py checks that this covers the job, so no asset is left out of the figures).
STAGES = {
    "load": ["raw/orders", "raw/rejected_orders", "raw/landing_files"],
    "rfm": ["staging/customer_transactions", "features/rfm"],
    "fits": ["models/purchase_model", "models/gamma_gamma"],
    "predictions": ["predictions/customers"],
    "channels": ["predictions/account_channels", "predictions/customer_channels"],
    "bands": ["bands/thresholds", "bands/customers"],
    "marts": [
        "marts/customer_profile", "marts/customer_segments", "marts/segment_sizes",
        "marts/band_distribution", "marts/account_summary",
    ],
}
GNU_TIME = Path("/usr/bin/time")


def _proc_tree_rss(root_pid: int) -> dict[int, tuple[float, float]]:
    """(VmRSS, VmHWM) in MB (current and peak RSS) of ``root_pid`` and every descendant alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    peaks, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            peaks[pid] = (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)
        except (OSError, KeyError, ValueError):
            pass
    return peaks


def measure_tree(argv: list[str], env: dict) -> dict:
    """Run ``argv`` (under GNU time -v when present); wall seconds, the kernel's peak RSS
    (MB), the peak RSS of each process of its tree (pid -> MB) and the samples
    (unix time, pid, current RSS MB) taken every 0.1 s."""
    use_gnu = GNU_TIME.exists()
    report = Path(tempfile.mkstemp(prefix="clv-bench-time-")[1])
    full = [str(GNU_TIME), "-v", "-o", str(report)] + argv if use_gnu else argv
    started = time.perf_counter()
    proc = subprocess.Popen(full, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    import threading

    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()))
    reader.start()
    peaks: dict[int, float] = {}
    samples: list[tuple[float, int, float]] = []
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        now = time.time()
        for child, (rss, hwm) in _proc_tree_rss(proc.pid).items():
            peaks[child] = max(peaks.get(child, 0.0), hwm)
            samples.append((now, child, rss))
        time.sleep(0.1)
    wall = time.perf_counter() - started
    reader.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{''.join(output)[-3000:]}")
    kernel_mb = usage.ru_maxrss / 1024  # GNU time's own process when present: replaced below
    if use_gnu:
        for line in report.read_text().splitlines():
            if "Maximum resident set size" in line:
                kernel_mb = int(line.rsplit(":", 1)[1]) / 1024
    report.unlink(missing_ok=True)
    return {"wall": wall, "kernel_peak_mb": kernel_mb, "tree_peak_mb": max(peaks.values(), default=float("nan")),
            "peaks": peaks, "samples": samples}


def measure(argv: list[str], env: dict, check: bool = True) -> dict:
    """Run ``argv``; return wall seconds, peak RSS (MB) and the JSON it printed last, if any.
    ``check``: a non-zero exit ends the benchmark (else the caller reports failures itself)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if check and os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{out[-2000:]}")
    reported = {}
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            reported = json.loads(line)
            break
    return {"wall": wall, "peak_mb": usage.ru_maxrss / 1024, **reported}


def job_asset_keys() -> set[str]:
    """The asset keys (``schema/table``) clv_account_job materialises."""
    from clv_assets.definitions import build_defs
    from clv_assets.lib.keys import ACCOUNT_JOB

    job = build_defs().resolve_job_def(ACCOUNT_JOB)
    return {key.to_user_string() for key in job.asset_layer.executable_asset_keys}


def step_figures(dagster_home: str, run_id: str, samples: list[tuple[float, int, float]]) -> dict[str, dict]:
    """Per asset of the run: its step, the step's seconds (STEP_START -> STEP_SUCCESS in
    the run's event log) and the largest RSS of the step's process sampled while the step
    ran (the CLI runs a job's steps in one process, so a process's VmHWM is not a step's)."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(dagster_home)
    steps: dict[str, dict] = {}
    assets: dict[str, str] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        step = steps.setdefault(entry.step_key, {"step": entry.step_key})
        if event.event_type == dg.DagsterEventType.STEP_START:
            step["start"], step["pid"] = entry.timestamp, event.pid
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            step["end"] = entry.timestamp
            step["seconds"] = entry.timestamp - step["start"]
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            assets[event.event_specific_data.materialization.asset_key.to_user_string()] = entry.step_key
    def peak(step: dict) -> float:
        during = [rss for t, pid, rss in samples
                  if pid == step.get("pid") and step.get("start", 0) <= t <= step.get("end", 0)]
        return max(during, default=float("nan"))

    return {asset: {**steps[key], "peak_mb": peak(steps[key])} for asset, key in assets.items()}


def latest_run_id(dagster_home: str) -> str:
    import dagster as dg

    from clv_assets.lib.keys import ACCOUNT_JOB

    instance = dg.DagsterInstance.from_config(dagster_home)
    # the account's run, not the freshness-check run materialize starts after it
    (record,) = instance.get_run_records(filters=dg.RunsFilter(job_name=ACCOUNT_JOB), limit=1)
    return record.dagster_run.run_id


def child_naive(warehouse: str, account: str, horizon: int) -> None:
    """pymc-marketing out of the box: customer-level fits, full-posterior predictions."""
    import warnings

    warnings.filterwarnings("ignore")
    import duckdb
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    with duckdb.connect(warehouse, read_only=True) as conn:
        data = conn.execute(
            'SELECT customer_id, frequency::DOUBLE AS frequency, recency::DOUBLE AS recency, "T"::DOUBLE AS "T", '
            "monetary_value FROM features.rfm WHERE account = $a",
            {"a": account},
        ).df()
    started = time.perf_counter()
    bg = BetaGeoModel()
    bg.fit(data, progressbar=False)
    repeat = data[(data.frequency > 0) & (data.monetary_value > 0)]
    gg = GammaGammaModel()
    gg.fit(repeat, progressbar=False)
    fitted = time.perf_counter()
    purchases = bg.expected_purchases(data, future_t=horizon)
    bg.expected_probability_alive(data)
    bg.expected_probability_no_purchase(horizon, data)
    spend = gg.expected_customer_spend(data)
    clv = (purchases * spend).mean(("chain", "draw"))
    assert clv.size == len(data)
    print(json.dumps({"seconds": time.perf_counter() - started, "fit_seconds": fitted - started}))


def run_breakdown(dagster_home: str, since: float) -> dict:
    """Medians over the runs created after ``since``: run seconds, fit seconds, SQL-step seconds."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(dagster_home)
    from clv_assets.lib.keys import ACCOUNT_JOB

    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=ACCOUNT_JOB, created_after=datetime.fromtimestamp(since, UTC))
    )
    runs, fits, sql_steps, steps, failed = [], {"purchase_model": [], "gamma_gamma": []}, [], {}, []
    for record in records:
        if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
            failed.append(record.dagster_run.tags.get("dagster/partition"))
            continue
        runs.append(record.end_time - record.start_time)
        started = {}
        sql = 0.0
        for entry in instance.all_logs(record.dagster_run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                started[entry.step_key] = entry.timestamp
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                seconds = entry.timestamp - started[entry.step_key]
                steps.setdefault(entry.step_key, []).append(seconds)
                if "fit" not in entry.step_key:
                    sql += seconds
            elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                materialization = event.event_specific_data.materialization
                model = materialization.asset_key.path[-1]
                if model in fits:
                    fits[model].append(materialization.metadata["seconds"].value)
        sql_steps.append(sql)
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    return {"runs": len(runs), "run": med(runs), "sql": med(sql_steps), **{k: med(v) for k, v in fits.items()},
            "steps": {key: med(v) for key, v in steps.items()}, "failed": sorted(failed)}


def bench_many(n_accounts: int, n_customers: int, workers: int, as_of: str, modes: list[str]) -> None:
    """Materialise many accounts two ways and print wall time and per-account overhead.

    - one process per account (what a run per partition costs: process start, imports,
      first model compilation, then the work), ``workers`` processes at a time;
    - ``clv-assets materialize --workers N``: each worker process runs its share of the
      accounts one after the other, paying imports and first compilations once.
    """
    from clv_assets.demo import write_demo_accounts

    root = Path(tempfile.mkdtemp(prefix=f"clv-bench-many-{n_accounts}x{n_customers}-"))
    env = {
        **os.environ,
        "CLV_WAREHOUSE": str(root / "warehouse.duckdb"),
        "CLV_LANDING_DIR": str(root / "landing"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    cli = [str(Path(sys.executable).with_name("clv-assets"))]
    imports = [measure([sys.executable, "-c", "import clv_assets.definitions, clv_assets.stats.fitting"], env)["wall"]
               for _ in range(3)]
    truths = write_demo_accounts(root / "landing", n_accounts=n_accounts, n_customers=n_customers, seed=20)
    accounts = [t["account"] for t in truths]
    print(f"== {n_accounts} accounts x {n_customers:,} customers, {workers} processes at a time ({root})")
    print(f"  process start + imports (definitions + PyMC): {statistics.median(imports):.1f} s (median of 3)")
    # register the partitions and warm the on-disk compile caches, as a daemon would have
    measure(cli + ["materialize", "--account", accounts[0], "--as-of", as_of], env)

    results = {}
    started_at, started = time.time(), time.perf_counter()
    pending, running, per_process = (list(accounts) if "per-account" in modes else []), [], []
    while pending or running:
        while pending and len(running) < workers:
            account = pending.pop(0)
            argv = cli + ["materialize", "--account", account, "--as-of", as_of]
            running.append((time.perf_counter(), subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)))
        for item in list(running):
            if item[1].poll() is not None:
                running.remove(item)
                per_process.append(time.perf_counter() - item[0])
        time.sleep(0.2)
    if per_process:
        results["one process per account"] = (time.perf_counter() - started, statistics.median(per_process),
                                              run_breakdown(env["DAGSTER_HOME"], started_at))
    if "workers" in modes:
        started_at, started = time.time(), time.perf_counter()
        # an account that fails (say a fit's blocking diagnostics) is reported, not fatal
        measure(cli + ["materialize", "--workers", str(workers), "--as-of", as_of], env, check=False)
        results[f"{workers} worker processes"] = (time.perf_counter() - started, float("nan"),
                                                  run_breakdown(env["DAGSTER_HOME"], started_at))
    print(f"  {'mode':<26} {'total':>8} {'per account (median):':>22} {'process':>8} {'run':>6} "
          f"{'purchase fit':>12} {'gg fit':>7} {'SQL steps':>9}")
    for mode, (total, process, b) in results.items():
        print(f"  {mode:<26} {total:7.0f}s {'':>22} {process:7.1f}s {b['run']:5.1f}s {b['purchase_model']:8.1f}s "
              f"{b['gamma_gamma']:6.1f}s {b['sql']:8.1f}s   ({b['runs']} successful runs)")
    for mode, (_, _, b) in results.items():
        if b["failed"]:
            print(f"  {mode}: {len(b['failed'])} account(s) failed: {', '.join(b['failed'])}")
        print(f"  {mode}, seconds per step (median over runs): "
              + ", ".join(f"{key} {seconds:.2f}" for key, seconds in sorted(b["steps"].items(), key=lambda kv: -kv[1])))


def bench_prediction_models(n_rows: int, repeat: int) -> None:
    """Seconds of ``predict_rows`` (200 draws) per purchase model on ``n_rows`` distinct
    histories drawn at random, with posteriors spread around CDNOW's posterior means (days)."""
    import numpy as np
    import pandas as pd

    from clv_assets.stats.predict import PredictionSettings, predict_rows

    rng = np.random.default_rng(0)
    T = rng.uniform(30, 700, n_rows).round()
    x = np.where(rng.random(n_rows) < 0.4, 0.0, rng.poisson(2, n_rows).astype(float))
    rows = pd.DataFrame(
        {
            "frequency": x,
            "recency": np.where(x > 0, np.floor(rng.random(n_rows) * T), 0.0),
            "T": T,
            "monetary_value": np.where(x > 0, rng.gamma(4, 10, n_rows), 0.0),
            "n": 1,
        }
    )
    draws = lambda means: {k: rng.normal(v, 0.03 * v, 200) for k, v in means.items()}  # noqa: E731
    beta_geo = draws({"r": 0.245, "alpha": 31.5, "a": 0.78, "b": 2.41})
    posteriors = {
        "bgnbd": beta_geo,
        "mbgnbd": draws({"r": 0.572, "alpha": 45.8, "a": 0.874, "b": 1.54}),
        "pareto_nbd": draws({"r": 0.56, "alpha": 74.1, "s": 0.557, "beta": 71.8}),
    }
    spend = draws({"p": 6.3, "q": 3.8, "v": 16.0})
    medians = {}
    for model, purchase in posteriors.items():
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            predict_rows(rows, purchase, spend, PredictionSettings(model=model))
            seconds.append(time.perf_counter() - started)
        medians[model] = statistics.median(seconds)
        print(f"  {model:<11} median {medians[model]:6.1f} s over {repeat}  "
              f"({medians[model] / medians["bgnbd"]:.1f}x BG/NBD)  runs: {[round(v, 1) for v in seconds]}")


def bench_backtest(customers: int, repeat: int) -> None:
    """Seconds of the 3-candidate holdout backtest (models/evaluation after loading the
    orders: a real in-process Dagster run, as ``scripts/cdnow_scorecard.py`` does) on the
    CDNOW sample and on a demo account of ``customers`` customers, ``repeat`` rounds in one
    process. The process's first fit of each model compiles it (nutpie / Laplace
    functions); later runs reuse it, as a warm worker does."""
    import dagster as dg
    import duckdb

    from clv_assets.cdnow import cdnow_orders, evaluation_run_config, materialize_backtest
    from clv_assets.demo import write_demo_accounts

    root = Path(tempfile.mkdtemp(prefix="clv-bench-backtest-"))
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    (root / "dagster_home").mkdir()
    instance = dg.DagsterInstance.get()
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    (landing / "cdnow-sample").mkdir(parents=True)
    cdnow_orders(ROOT / "clv_assets_tests" / "fixtures" / "cdnow" / "CDNOW_sample.txt").to_csv(
        landing / "cdnow-sample" / "cdnow.csv", index=False
    )
    (truth,) = write_demo_accounts(landing, n_accounts=1, n_customers=customers)
    cases = [("CDNOW sample", "cdnow-sample", evaluation_run_config()), (f"{customers:,}-customer account", truth["account"], {})]
    for round_ in range(1, repeat + 1):
        for label, account, run_config in cases:
            started = time.perf_counter()
            result = materialize_backtest(account, landing, warehouse, instance, run_config)
            wall = time.perf_counter() - started
            if not result.success:
                raise SystemExit(f"backtest of {account} failed")
            step = [e.timestamp for e in instance.all_logs(result.run_id) if e.dagster_event and e.step_key == "models__evaluation"
                    and e.dagster_event.event_type in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)]
            with duckdb.connect(str(warehouse), read_only=True) as conn:
                fits = conn.execute(
                    "SELECT model, method, fit_seconds, n_customers FROM models.evaluation WHERE account = $a ORDER BY model", {"a": account}
                ).fetchall()
            print(f"  round {round_}  {label:<24} {fits[0][3]:>6,} customers  run {wall:5.1f} s, "
                  f"evaluation step {step[-1] - step[0]:5.1f} s; fits incl. compiling: "
                  + ", ".join(f"{model} ({method}) {seconds:.1f} s" for model, method, seconds, _ in fits), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="end-to-end repetitions (median reported)")
    parser.add_argument("--landing", type=Path, help="benchmark these account folders instead of generated ones")
    parser.add_argument("--naive-too", action="store_true", help="with --landing: also run the naive way")
    parser.add_argument("--as-of", help="observation end, YYYY-MM-DD (default: 30 days ago)")
    parser.add_argument("--many", type=int, help="materialise this many accounts (see bench_many)")
    parser.add_argument("--customers", type=int, default=5000, help="with --many: customers per account")
    parser.add_argument("--workers", type=int, default=2, help="with --many: processes at a time")
    parser.add_argument("--modes", nargs="+", choices=["per-account", "workers"], default=["per-account", "workers"],
                        help="with --many: one process per account, worker processes, or both")
    parser.add_argument("--prediction-models", type=int, help="predictions per purchase model on N distinct histories")
    parser.add_argument("--backtest", action="store_true",
                        help="the 3-candidate backtest on the CDNOW sample and a --customers account, --repeat rounds in one process")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        child_naive(rest[0], rest[1], int(rest[2]))
        return
    if args.prediction_models:
        bench_prediction_models(args.prediction_models, max(args.repeat, 3))
        return
    if args.backtest:
        bench_backtest(args.customers, args.repeat)
        return


    from clv_assets.demo import write_demo_accounts

    as_of = args.as_of or (datetime.now(UTC).date() - timedelta(days=AS_OF_OFFSET_DAYS)).isoformat()
    if args.many:
        bench_many(args.many, args.customers, args.workers, as_of, args.modes)
        return
    me = [sys.executable, str(Path(__file__).resolve())]
    cli = [str(Path(sys.executable).with_name("clv-assets"))]
    baseline = measure([sys.executable, "-c", "import clv_assets.definitions"], dict(os.environ))
    print(f"process start + imports: {baseline['wall']:.1f} s, {baseline['peak_mb']:.0f} MB\n")
    missing = job_asset_keys() - {key for keys in STAGES.values() for key in keys}
    if missing:
        print(f"warning: assets of the job without a stage: {sorted(missing)}")
    peak_label = "GNU time" if GNU_TIME.exists() else "wait4"
    results = {}
    if args.landing:
        cases = [(folder.name, folder) for folder in sorted(args.landing.iterdir()) if folder.is_dir()]
    else:
        cases = [(size, None) for size in args.sizes]
    for size, source in cases:
        root = Path(tempfile.mkdtemp(prefix=f"clv-bench-{size}-"))
        env = {
            **os.environ,
            "CLV_WAREHOUSE": str(root / "warehouse.duckdb"),
            "CLV_LANDING_DIR": str(root / "landing"),
            "DAGSTER_HOME": str(root / "dagster_home"),
        }
        started = time.perf_counter()
        if source is None:
            (truth,) = write_demo_accounts(root / "landing", n_accounts=1, n_customers=size, seed=size % 997)
        else:
            (root / "landing").mkdir()
            (root / "landing" / source.name).symlink_to(source.resolve(), target_is_directory=True)
            truth = {"account": source.name, "n_completed_orders": 0}
        account = truth["account"]
        label = f"{size:,} customers" if source is None else f"account folder {source}"
        print(f"== {label} ({truth['n_completed_orders']:,} completed orders, "
              f"{truth.get('n_cancelled', 0) + truth.get('n_refunded', 0):,} cancelled/refunded, "
              f"{sum(truth.get('bad_rows', {}).values()):,} invalid rows; generated in "
              f"{time.perf_counter() - started:.0f} s)", flush=True)
        command = cli + ["materialize", "--account", account, "--as-of", as_of]
        # the warm-up run registers the partition and warms the compile caches
        warm = measure_tree(command, env)
        print(f"  warm-up run {warm['wall']:.1f} s", flush=True)
        runs = []
        for _ in range(args.repeat):
            run = measure_tree(command, env)
            run["steps"] = step_figures(env["DAGSTER_HOME"], latest_run_id(env["DAGSTER_HOME"]), run["samples"])
            runs.append(run)
            print(f"  run {len(runs)}: {run['wall']:.1f} s, peak {run['kernel_peak_mb']:.0f} MB ({peak_label}), "
                  f"{run['tree_peak_mb']:.0f} MB (largest process of the tree)", flush=True)
        median_run = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
        print(f"  {'asset':<32} {'step':<28} {'s':>7} {'peak MB':>8}   (run with the median wall time)")
        for stage, keys in STAGES.items():
            for key in keys:
                step = median_run["steps"].get(key, {})
                print(f"  {key:<32} {step.get('step', '-'):<28} {step.get('seconds', float('nan')):7.1f} "
                      f"{step.get('peak_mb', float('nan')):8.0f}")
        e2e = {"wall": statistics.median(r["wall"] for r in runs),
               "peak_mb": max(r["kernel_peak_mb"] for r in runs),
               "tree_peak_mb": max(r["tree_peak_mb"] for r in runs)}
        print(f"  {'end to end':<12} {e2e['wall']:7.1f} s   peak {e2e['peak_mb']:6.0f} MB ({peak_label}), "
              f"{e2e['tree_peak_mb']:.0f} MB largest process   (clv-assets materialize, median of {args.repeat})")
        import duckdb

        with duckdb.connect(env["CLV_WAREHOUSE"], read_only=True) as conn:
            facts = conn.execute(
                "SELECT model, any_value(method), any_value(n_distinct_rows), any_value(n_customers) "
                "FROM models.fits GROUP BY model ORDER BY model"
            ).fetchall()
        for model, method, distinct, customers in facts:
            print(f"  {model}: {method} on {distinct:,} distinct rows for {customers:,} customers")
        steps = median_run["steps"]
        results[size] = {"steps": steps, "e2e": e2e}
        if (size == 100_000 and not args.no_naive) or (source is not None and args.naive_too):
            naive = measure(me + ["--child", "naive", env["CLV_WAREHOUSE"], account, "365"], env)
            ours = [steps[key] for key in STAGES["fits"] + STAGES["predictions"]]
            ours_seconds = sum(s["seconds"] for s in ours)
            ours_peak = max(s["peak_mb"] for s in ours)
            print(f"  naive pymc-marketing: {naive['seconds']:.1f} s (fits {naive['fit_seconds']:.1f} s), "
                  f"peak {naive['peak_mb']:.0f} MB")
            print(f"  ours, fits + predictions: {ours_seconds:.1f} s, peak {ours_peak:.0f} MB")
            print(f"  ratio naive / ours: {naive['seconds'] / ours_seconds:.1f}x time, "
                  f"{naive['peak_mb'] / ours_peak:.1f}x peak memory")
        print()


if __name__ == "__main__":
    main()
