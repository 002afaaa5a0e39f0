"""The command line: one-line errors with a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from clv_assets.cli import main

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["frobnicate"], "invalid choice"),
        ([], "required"),
        (["demo", "--accounts", "0"], "must be at least 1"),
        (["demo", "--customers", "many"], "not an integer"),
        (["materialize", "--as-of", "2024-13-01"], "not a YYYY-MM-DD date"),
        (["materialize", "--account", "Robert'); DROP TABLE raw.orders;--"], "invalid account name"),
    ],
)
def test_bad_arguments_give_one_line_error(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CLV_LANDING_DIR", str(tmp_path))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_missing_landing_folder_and_unknown_account(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CLV_LANDING_DIR", str(tmp_path / "nowhere"))
    assert main(["materialize"]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setenv("CLV_LANDING_DIR", str(tmp_path))
    assert main(["materialize", "--account", "ghost"]) == 2
    assert "no landing folder" in capsys.readouterr().err


def test_installed_command_prints_no_traceback(tmp_path):
    env = {**os.environ, "CLV_LANDING_DIR": str(tmp_path / "nowhere")}
    exe = os.path.join(os.path.dirname(sys.executable), "clv-assets")
    proc = subprocess.run([exe, "materialize", "--as-of", "soon"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
