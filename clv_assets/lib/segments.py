"""Segment definitions (``sql/marts/segments.yaml``) turned into one query over the profile."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import yaml

from clv_assets.lib.warehouse import read_sql, sql_file

SEGMENTS_FILE = sql_file("marts", "segments.yaml")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# models.prediction_snapshots carries a customer's segments as the bits of one 64-bit integer
MAX_SEGMENTS = 64


class SegmentDefinitionError(ValueError):
    """segments.yaml is malformed; the message names the entry."""


@dataclass(frozen=True)
class Segment:
    name: str
    label: str
    where: str
    cell: str | None = None
    description: str = ""
    compare_with: str = "TRUE"  # the comparison group of the segment lift: these customers, less the members
    match_on: str | None = None  # strata the lift compares within (comparison reweighted to the members' strata)


_KEYS = {"name", "label", "description", "where", "cell", "compare_with", "match_on"}


def load_segments(path=SEGMENTS_FILE) -> list[Segment]:
    try:
        entries = yaml.safe_load(path.read_text())["segments"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise SegmentDefinitionError(f"{path}: expected a 'segments' list ({exc})") from None
    if isinstance(entries, list) and len(entries) > MAX_SEGMENTS:
        raise SegmentDefinitionError(f"{path}: {len(entries)} segments; at most {MAX_SEGMENTS} can be defined")
    segments, seen = [], set()
    for i, entry in enumerate(entries, 1):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SegmentDefinitionError(f"{path}: segment {i}: 'name' must be a lower-case slug, got {name!r}")
        if name in seen:
            raise SegmentDefinitionError(f"{path}: segment {name!r} is defined twice")
        unknown = set(entry) - _KEYS
        if unknown or not entry.get("where") or not entry.get("description"):
            raise SegmentDefinitionError(
                f"{path}: segment {name!r}: needs 'where' and 'description'; unknown keys {sorted(unknown)}"
            )
        seen.add(name)
        segments.append(
            Segment(
                name, entry.get("label", name), entry["where"], entry.get("cell"), " ".join(str(entry["description"]).split()),
                entry.get("compare_with") or "TRUE", entry.get("match_on"),
            )
        )
    return segments


def segment_definitions(segments: list[Segment]) -> pd.DataFrame:
    """One row per segment: name, label, description (joined into marts.segment_sizes)."""
    return pd.DataFrame(
        {
            "segment": [s.name for s in segments],
            "label": [s.label for s in segments],
            "description": [s.description for s in segments],
        }
    )


def segments_markdown(segments: list[Segment]) -> str:
    """The segments and their one-line descriptions, for asset descriptions in the UI."""
    return "\n".join(f"- **{s.name}** ({s.label}): {s.description}" for s in segments)


def lift_groups_query(segments: list[Segment]) -> tuple[str, dict[str, str]]:
    """Per customer of one account's profile and each segment without cells: whether the
    customer is a member, whether in the comparison group (``compare_with``), and the
    stratum (``match_on``) the lift compares within. Same predicates as the segments."""
    selects, params = [], {}
    for i, segment in enumerate(s for s in segments if s.cell is None):
        params[f"segment_{i}"] = segment.name
        stratum = f"CAST(({segment.match_on}) AS VARCHAR)" if segment.match_on else "''"
        selects.append(
            f"SELECT customer_id, $segment_{i} AS segment, coalesce(({segment.where}), false) AS member,\n"
            f"    coalesce(({segment.compare_with}), false) AS comparable, {stratum} AS stratum\n"
            f"FROM marts.customer_profile WHERE account = $account"
        )
    return "\nUNION ALL\n".join(selects), params


def segments_query(segments: list[Segment]) -> tuple[str, dict[str, str]]:
    """The SELECT of marts.customer_segments and its parameters (segment names are bound).

    The predicates are SQL from the repository's segments.yaml, so they are part of the
    query text, like any file in sql/; each runs in parentheses over one account's profile.
    """
    selects, params = [], {}
    for i, segment in enumerate(segments):
        params[f"segment_{i}"] = segment.name
        cell = f"CAST(({segment.cell}) AS VARCHAR)" if segment.cell else "CAST(NULL AS VARCHAR)"
        selects.append(
            f"SELECT account, customer_id, $segment_{i} AS segment, {cell} AS cell, as_of\n"
            f"FROM marts.customer_profile WHERE account = $account AND ({segment.where})"
        )
    return read_sql("marts.customer_segments").replace("/* segment selects */", "\nUNION ALL\n".join(selects)), params
