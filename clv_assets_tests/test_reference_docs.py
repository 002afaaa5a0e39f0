"""The generated reference pages (docs/reference/) are what the code generates today."""

from __future__ import annotations

from pathlib import Path

import pytest

from clv_assets import reference

pytestmark = pytest.mark.fast

DOCS = Path(__file__).resolve().parent.parent / "docs" / "reference"


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return reference.generate()


@pytest.mark.parametrize("name", sorted(reference.PAGES))
def test_committed_page_is_current(pages, name):
    committed = (DOCS / name).read_text() if (DOCS / name).exists() else ""
    assert committed == pages[name], f"docs/reference/{name} is out of date: run `make docs` and commit it"


def test_every_setting_and_config_key_is_described(pages):
    undescribed = [line for line in pages["config.md"].splitlines() if line.startswith("| `") and line.endswith("|  |")]
    assert undescribed == []


def test_check_mode_names_a_stale_page(tmp_path, capsys):
    assert reference.main(["--out", str(tmp_path)]) == 0
    assert reference.main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "segments.md").write_text("edited by hand\n")
    assert reference.main(["--out", str(tmp_path), "--check"]) == 1
    assert "segments.md" in capsys.readouterr().err
