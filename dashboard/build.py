"""Build the marketers' dashboard: a static site generated from the serving copy alone.

Reads only the serving copy (``--serving``, else ``clv_assets.settings.serving_path``:
``$CLV_SERVING`` or the one beside the warehouse), read-only, and writes ``<out>/``: one page
per entry of ``PAGES`` (the same shell around ``dashboard/site/app.js``; no dependencies, no
network) and one data file per account (``data/<account>.js``) holding that account's
figures from the marts.

    python dashboard/build.py [--serving PATH] [--out dashboard/build]
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import shutil
import sys
import time
from pathlib import Path

import duckdb

from clv_assets import settings

HERE = Path(__file__).resolve().parent


SUMMARY = """
SELECT account, as_of, currency, customers, repeat_buyer_share, avg_orders_per_customer,
       avg_order_value, avg_total_spend, horizon_days, avg_predicted_spend,
       predicted_revenue, predicted_revenue_p05, predicted_revenue_p95,
       predicted_orders, predicted_orders_p05, predicted_orders_p95,
       served_model, served_model_reason, backtest_chosen_model, backtest_evaluated_at,
       model_status, predicted_at
FROM marts.account_summary WHERE account = $account
"""
BANDS = """
SELECT band, level, customers, share_of_customers
FROM marts.band_distribution WHERE account = $account
ORDER BY band, customers DESC, level
"""
SEGMENTS = """
SELECT segment, label, description, customers, share_of_customers, avg_predicted_spend,
       total_predicted_spend
FROM marts.segment_sizes WHERE account = $account AND cell IS NULL
ORDER BY customers DESC, segment
"""
LIFT = """
SELECT segment, members, comparison_group, cutoff, holdout_days,
       order_rate_lift, order_rate_lift_p05, order_rate_lift_p95,
       spend_lift, spend_lift_p05, spend_lift_p95, evaluated_at
FROM models.evaluation_segments WHERE account = $account
"""
GRID = """
SELECT cell, customers, share_of_customers, avg_predicted_spend
FROM marts.segment_sizes WHERE account = $account AND segment = 'purchase_churn_grid'
ORDER BY cell
"""
CHANNELS = """
WITH m AS (
    SELECT s.segment, coalesce(p.best_channel, 'unknown') AS channel, p.best_channel_probability
    FROM marts.customer_segments AS s
    JOIN marts.customer_profile AS p USING (account, customer_id)
    WHERE s.account = $account AND s.cell IS NULL
)
SELECT segment, channel, count(*) AS customers,
       count(*) / sum(count(*)) OVER (PARTITION BY segment) AS share_of_segment,
       avg(best_channel_probability) AS avg_best_channel_probability
FROM m GROUP BY segment, channel
ORDER BY segment, customers DESC, channel
"""
ACCOUNT_CHANNELS = """
SELECT channel, orders, share FROM predictions.account_channels
WHERE account = $account ORDER BY share DESC, channel
"""
CUSTOMERS = """
SELECT p.customer_id, p.first_order_date, p.last_order_date, p.order_count, p.total_spend,
       p.historical_aov, p.top_channel,
       p.p_alive, p.p_alive_p05, p.p_alive_p95,
       p.expected_orders, p.expected_orders_p05, p.expected_orders_p95,
       p.p_order, p.p_order_p05, p.p_order_p95,
       p.churn_probability, p.churn_probability_p05, p.churn_probability_p95,
       p.purchase_probability, p.purchase_probability_p05, p.purchase_probability_p95,
       p.expected_aov, p.expected_aov_p05, p.expected_aov_p95,
       p.predicted_spend, p.predicted_spend_p05, p.predicted_spend_p95,
       p.expected_next_order_date,
       p.frequency_band, p.spend_band,
       p.predicted_spend_band, p.predicted_spend_band_confidence,
       p.predicted_aov_band, p.predicted_aov_band_confidence,
       p.order_likelihood_band, p.order_likelihood_band_confidence,
       p.spend_tier, p.spend_tier_confidence,
       p.churn_band, p.churn_band_confidence,
       p.purchase_probability_band, p.purchase_probability_band_confidence,
       p.best_channel, p.best_channel_probability,
       coalesce((SELECT list(s.segment || coalesce(' (' || s.cell || ')', '') ORDER BY s.segment)
                 FROM marts.customer_segments AS s
                 WHERE s.account = p.account AND s.customer_id = p.customer_id), []) AS segments
FROM marts.customer_profile AS p WHERE p.account = $account
ORDER BY p.customer_id
"""
HISTORY = """
SELECT customer_id, list([strftime(transaction_date, '%Y-%m-%d'), CAST(amount AS VARCHAR),
                          CAST(n_orders AS VARCHAR)] ORDER BY transaction_date) AS orders
FROM staging.customer_transactions WHERE account = $account
GROUP BY customer_id
"""
AUDIT = """
SELECT snapshot_as_of, horizon_days, matured_days, fully_matured, purchase_model, customers,
       predicted_orders, predicted_orders_p05, predicted_orders_p95, actual_orders,
       predicted_buyers, predicted_buyers_p05, predicted_buyers_p95, actual_buyers,
       predicted_spend, predicted_spend_p05, predicted_spend_p95, actual_spend,
       orders_within_interval, buyers_within_interval, spend_within_interval, as_of
FROM marts.prediction_audit WHERE account = $account
ORDER BY horizon_days, snapshot_as_of
"""


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _rows(conn, sql: str, account: str) -> list[dict]:
    cur = conn.execute(sql, {"account": account})
    names = [d[0] for d in cur.description]
    return [{n: _plain(v) for n, v in zip(names, row)} for row in cur.fetchall()]


def _has_table(conn, schema: str, table: str) -> bool:
    return bool(conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
        [schema, table]).fetchone()[0])


def account_data(conn, account: str, *, has_lift: bool, has_audit: bool) -> dict:
    summary = _rows(conn, SUMMARY, account)
    customers = _rows(conn, CUSTOMERS, account)
    history = ({r["customer_id"]: r["orders"] for r in _rows(conn, HISTORY, account)}
               if _has_table(conn, "staging", "customer_transactions") else {})
    for c in customers:
        c["orders"] = [[d, float(a), int(n)] for d, a, n in history.get(c["customer_id"], [])]
    return {
        "account": account,
        "summary": summary[0] if summary else None,
        "bands": _rows(conn, BANDS, account),
        "segments": _rows(conn, SEGMENTS, account),
        "lift": _rows(conn, LIFT, account) if has_lift else None,
        "grid": _rows(conn, GRID, account),
        "channels": _rows(conn, CHANNELS, account),
        "account_channels": (_rows(conn, ACCOUNT_CHANNELS, account)
                             if _has_table(conn, "predictions", "account_channels") else []),
        "customers": customers,
        "audit": _rows(conn, AUDIT, account) if has_audit else None,
    }


# the pages: (file, page id app.js renders, title, navigation label); every page is the same
# shell around app.js, written from SHELL
PAGES = [
    ("index.html", "overview", "Account overview", "Overview"),
    ("segments.html", "segments", "Segments", "Segments"),
    ("heatmap.html", "heatmap", "Purchase × churn", "Purchase × churn"),
    ("channels.html", "channels", "Best channel per segment", "Channels"),
    ("customer.html", "customer", "Customer lookup", "Customer lookup"),
    ("audit.html", "audit", "Prediction audit", "Prediction audit"),
]
SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · customer predictions</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="style.css">
</head>
<body data-page="{page}">
<header>
  <div class="brand">Customer predictions</div>
  <nav id="nav"></nav>
  <label class="picker">Account <select id="account" data-testid="account-picker"></select></label>
</header>
<main>
  <h1>{title}</h1>
  <div id="content" aria-live="polite">Loading…</div>
</main>
<footer id="footer"></footer>
<script src="data/accounts.js"></script>
<script src="app.js"></script>
</body>
</html>
"""


def build(serving: Path, out: Path) -> dict:
    if not serving.is_file():
        hint = ("with CLV_SERVING_LAYOUT=per-account, point CLV_SERVING at one merchant's file, "
                "<warehouse>.serving/<account>.duckdb" if os.environ.get("CLV_SERVING_LAYOUT") == "per-account"
                else "run `make demo` or set CLV_SERVING")
        raise SystemExit(f"dashboard: serving copy not found: {serving} ({hint})")
    started = time.monotonic()
    # read-only: never blocks a publish (which replaces the file atomically) nor a run
    conn = duckdb.connect(str(serving), read_only=True)
    try:
        accounts = [r[0] for r in conn.execute(
            "SELECT account FROM marts.account_summary ORDER BY account").fetchall()]
        has_lift = _has_table(conn, "models", "evaluation_segments")
        has_audit = _has_table(conn, "marts", "prediction_audit")
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(HERE / "site", tmp)
        for file, page, title, _ in PAGES:
            (tmp / file).write_text(SHELL.format(title=title, page=page), encoding="utf-8")
        (tmp / "data").mkdir()
        for account in accounts:
            data = account_data(conn, account, has_lift=has_lift, has_audit=has_audit)
            payload = json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
            (tmp / "data" / f"{account}.js").write_text(
                f"window.CLV_ACCOUNT_DATA({payload});\n", encoding="utf-8")
        meta = {
            "accounts": accounts,
            "has_lift": has_lift,
            "has_audit": has_audit,
            "serving": serving.name,
            "pages": [[file, label] for file, _, _, label in PAGES],
            "built_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        (tmp / "data" / "accounts.js").write_text(
            f"window.CLV_META = {json.dumps(meta)};\n", encoding="utf-8")
    finally:
        conn.close()
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    meta["seconds"] = round(time.monotonic() - started, 2)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving", type=Path, default=None,
                        help="serving copy to read (default: $CLV_SERVING, else beside $CLV_WAREHOUSE)")
    parser.add_argument("--out", type=Path, default=HERE / "build")
    args = parser.parse_args(argv)
    serving = args.serving or settings.serving_path()
    meta = build(serving.resolve(), args.out.resolve())
    print(f"dashboard: {len(meta['accounts'])} account(s) from {serving} -> {args.out}/index.html "
          f"({meta['seconds']} s; segment lift: {'yes' if meta['has_lift'] else 'no'}, "
          f"prediction audit: {'yes' if meta['has_audit'] else 'no'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
