"""Every query of docs/bi_guide.md, run by a separate read-only DuckDB client process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pandas as pd

from clv_assets.settings import serving_path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "bi_guide.md"
CLIENT = """
import json, sys, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
results = [conn.execute(q).df().to_json(orient="split", date_format="iso", default_handler=str) for q in json.load(sys.stdin)]
print(json.dumps(results))
"""


def _guide_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", GUIDE.read_text(), flags=re.S)


def _run_in_separate_client(warehouse: Path, queries: list[str]) -> list[pd.DataFrame]:
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(warehouse)], input=json.dumps(queries), capture_output=True, text=True, check=True
    )
    return [pd.read_json(StringIO(r), orient="split") for r in json.loads(out.stdout)]


def test_every_guide_query_runs_and_returns_rows(workspace):
    # the audit's examples need runs at two as-of dates: test_audit.py runs them on its own
    queries = [q for q in _guide_queries() if "prediction_audit" not in q]
    assert len(queries) >= 11
    account = workspace.truths[0]["account"]
    assert all("'acme-outdoor'" in q for q in queries if "WHERE account" in q) and account == "acme-outdoor"
    results = _run_in_separate_client(serving_path(workspace.warehouse), queries)
    by_segment = {}
    for query, result in zip(queries, results):
        if "duckdb_columns()" in query:  # the comments reach the serving copy
            assert len(result) > 40 and result.comment.notna().all()
        match = re.search(r"segment = '([a-z_]+)'", query)
        if match and "customer_segments" in query:
            by_segment[match.group(1)] = result
        assert not result.empty, query
    # the segment queries return the members recomputed from the profile
    profile = workspace.query("SELECT * FROM marts.customer_profile WHERE account = $a", {"a": account})
    above = {"Above average", "Well above average"}
    vip = profile[profile.spend_band.isin(above) & profile.predicted_spend_band.isin(above)]
    assert set(by_segment["vip"].customer_id) == set(vip.customer_id) and len(vip) > 0
    active = (profile.order_count >= 2) | profile.spend_band.isin(above)
    days_silent = (pd.to_datetime(profile.as_of) - pd.to_datetime(profile.last_order_date)).dt.days
    at_risk = profile[active & (days_silent <= profile.churn_horizon_days) & profile.churn_band.isin(["High", "Very high"])]
    assert set(by_segment["at_risk"].customer_id) == set(at_risk.customer_id)
    assert set(by_segment) == {
        "one_time_buyers_likely_to_repeat", "vip", "future_vip", "loyal_staying_loyal", "becoming_loyal", "at_risk",
        "lapsed_one_time_buyers",
    }
