"""Audience files for e-mail and ad tools, read from the serving copy (never the warehouse).

An audience is a segment's current members (marts.segment_members) with the predictions a
campaign uses, or, with ``changes_since``, only who entered or left the segment after that
date (marts.segment_changes): what a reverse-ETL sync sends. The file is written beside
its destination and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb

from clv_assets.lib.accounts import validate_account
from clv_assets.lib.segments import load_segments

Format = Literal["csv", "parquet"]
FORMATS = ("csv", "parquet")

_MEMBERS = """
SELECT * EXCLUDE (account)
FROM marts.segment_members
WHERE account = $account AND segment = $segment
ORDER BY customer_id
"""

# a spell that began and ended after the date is no change for a tool synced at that date
_CHANGES = """
SELECT
    c.customer_id,
    c.segment,
    CASE WHEN c.left_on IS NOT NULL THEN 'leave' ELSE 'enter' END AS change,
    coalesce(c.left_on, c.entered_on) AS changed_on,
    m.* EXCLUDE (account, segment, customer_id)
FROM marts.segment_changes AS c
LEFT JOIN marts.segment_members AS m
    ON m.account = c.account AND m.segment = c.segment AND m.customer_id = c.customer_id AND c.left_on IS NULL
WHERE c.account = $account AND c.segment = $segment
  AND ((c.left_on IS NULL AND c.entered_on > $since) OR (c.left_on > $since AND c.entered_on <= $since))
ORDER BY changed_on, change, c.customer_id
"""


class AudienceError(ValueError):
    """An export the serving copy cannot answer (unknown account or segment, no copy yet)."""


def export_audience(
    serving: Path, account: str, segment: str, output: Path, fmt: Format = "csv", changes_since: date | None = None
) -> int:
    """Write ``segment``'s audience of ``account`` to ``output``; return its rows."""
    account = validate_account(account)
    if fmt not in FORMATS:
        raise AudienceError(f"format must be one of {list(FORMATS)}, got {fmt!r}")
    if not Path(serving).is_file():
        raise AudienceError(f"no serving copy at {serving}: run `clv-assets materialize` or `clv-assets publish` first")
    conn = duckdb.connect(str(serving), read_only=True)
    try:
        _check_known(conn, account, segment)
        params = {"account": account, "segment": segment}
        if changes_since is None:
            relation = conn.sql(_MEMBERS, params=params)
        else:
            relation = conn.sql(_CHANGES, params={**params, "since": changes_since})
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        try:
            (relation.write_csv if fmt == "csv" else relation.write_parquet)(str(tmp))
            os.replace(tmp, output)
        finally:
            tmp.unlink(missing_ok=True)
        return relation.shape[0]
    finally:
        conn.close()


def _check_known(conn: duckdb.DuckDBPyConnection, account: str, segment: str) -> None:
    tables = {row[0] for row in conn.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()}
    if "marts.segment_changes" not in tables or "marts.segment_members" not in tables:
        raise AudienceError("the serving copy has no segment tables yet: run `clv-assets materialize`")
    accounts = [r[0] for r in conn.execute("SELECT DISTINCT account FROM marts.segment_changes ORDER BY 1").fetchall()]
    if account not in accounts:
        raise AudienceError(f"unknown account {account!r} in the serving copy; accounts: {accounts}")
    segments = [s.name for s in load_segments()]
    if segment not in segments:
        raise AudienceError(f"unknown segment {segment!r}; segments: {segments}")
