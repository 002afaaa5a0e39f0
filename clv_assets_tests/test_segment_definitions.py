"""segments.yaml's checks: a malformed file fails with a message naming the entry."""

import pytest
import yaml

from clv_assets.lib.segments import MAX_SEGMENTS, SegmentDefinitionError, load_segments

pytestmark = pytest.mark.fast


def _write(path, n: int):
    entries = [{"name": f"segment_{i}", "where": f"order_count > {i}", "description": f"more than {i} orders"}
               for i in range(n)]
    path.write_text(yaml.safe_dump({"segments": entries}))
    return path


def test_up_to_the_limit_of_segments_load(tmp_path):
    segments = load_segments(_write(tmp_path / "segments.yaml", MAX_SEGMENTS))
    assert [s.name for s in segments] == [f"segment_{i}" for i in range(MAX_SEGMENTS)]


def test_more_segments_than_the_limit_are_refused_by_name(tmp_path):
    with pytest.raises(SegmentDefinitionError, match=f"{MAX_SEGMENTS + 1} segments; at most {MAX_SEGMENTS}"):
        load_segments(_write(tmp_path / "segments.yaml", MAX_SEGMENTS + 1))


def test_a_segment_defined_twice_is_refused(tmp_path):
    path = _write(tmp_path / "segments.yaml", 2)
    entries = yaml.safe_load(path.read_text())["segments"]
    path.write_text(yaml.safe_dump({"segments": entries + entries[:1]}))
    with pytest.raises(SegmentDefinitionError, match="'segment_0' is defined twice"):
        load_segments(path)
