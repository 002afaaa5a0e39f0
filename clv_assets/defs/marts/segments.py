"""Segment definitions (``sql/marts/segments.yaml``) turned into one query over the profile."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from clv_assets.lib.warehouse import read_sql, sql_file

SEGMENTS_FILE = sql_file("marts", "segments.yaml")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class SegmentDefinitionError(ValueError):
    """segments.yaml is malformed; the message names the entry."""


@dataclass(frozen=True)
class Segment:
    name: str
    label: str
    where: str
    cell: str | None = None


def load_segments(path=SEGMENTS_FILE) -> list[Segment]:
    try:
        entries = yaml.safe_load(path.read_text())["segments"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise SegmentDefinitionError(f"{path}: expected a 'segments' list ({exc})") from None
    segments, seen = [], set()
    for i, entry in enumerate(entries, 1):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SegmentDefinitionError(f"{path}: segment {i}: 'name' must be a lower-case slug, got {name!r}")
        if name in seen:
            raise SegmentDefinitionError(f"{path}: segment {name!r} is defined twice")
        unknown = set(entry) - {"name", "label", "where", "cell"}
        if unknown or not entry.get("where"):
            raise SegmentDefinitionError(f"{path}: segment {name!r}: needs 'where'; unknown keys {sorted(unknown)}")
        seen.add(name)
        segments.append(Segment(name, entry.get("label", name), entry["where"], entry.get("cell")))
    return segments


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
