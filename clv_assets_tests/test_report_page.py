"""The measurement pages' header (scripts/report_page.py): command, commit, date and machine,
read from the real repository and machine."""

import importlib.util
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]


def _report_page():
    spec = importlib.util.spec_from_file_location("clv_report_page", ROOT / "scripts" / "report_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_header_names_the_command_commit_date_and_machine():
    page = _report_page()
    started = datetime(2026, 12, 5, 9, 30, 0, tzinfo=UTC)
    argv = [str(ROOT / "scripts" / "bench.py"), "--sizes", "1000000", "--markdown", "docs/measurements/performance.md"]
    lines = page.header_lines(argv, started, started + timedelta(seconds=75))
    by_key = {line.split(":", 1)[0]: line for line in lines}
    assert set(by_key) >= {"- Command", "- Commit", "- Date", "- Machine"}
    # the command as typed from the repository root
    assert "scripts/bench.py --sizes 1000000 --markdown docs/measurements/performance.md`" in by_key["- Command"]
    assert str(ROOT) + "/scripts" not in by_key["- Command"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert f"`{head}`" in by_key["- Commit"]
    assert "clean working tree" in by_key["- Commit"] or "differed from it in" in by_key["- Commit"]
    assert "2026-12-05 09:30:00 UTC" in by_key["- Date"] and "(1 min 15 s)" in by_key["- Date"]
    machine = by_key["- Machine"]
    assert re.search(r"\d+ cores", machine) and "GiB memory" in machine
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in machine


def test_page_puts_the_header_before_the_tables(tmp_path):
    page = _report_page()
    out = page.Page("Example", "scripts/example.py", argv=["scripts/example.py", "--markdown", "x.md"])
    page_text = None
    out.how_to_read("Medians of three runs.")
    out.section("Figures")
    out.table(["figure", "value"], [["a", "1.0"], ["b|c", "2.0"]])
    out.write(tmp_path / "sub" / "x.md")
    page_text = (tmp_path / "sub" / "x.md").read_text()
    assert page_text.startswith("# Example\n")
    assert page_text.index("- Commit:") < page_text.index("**How to read this.**") < page_text.index("| figure | value |")
    assert "| b\\|c | 2.0 |" in page_text
