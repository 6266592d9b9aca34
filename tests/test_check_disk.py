"""tools/check_disk.py: the free-space check that `make setup` and the suite run first."""
import collections
import os
import subprocess
import sys

import pytest
from tool_runs import ROOT, load_tool

Usage = collections.namedtuple("Usage", "total used free")
GIB = 1024**3


@pytest.fixture
def check_disk():
    return load_tool("check_disk")


def test_existing_parent_walks_up_to_a_folder_that_exists(check_disk, tmp_path):
    assert check_disk.existing_parent(tmp_path / "not" / "yet" / ".venv") == str(tmp_path)
    assert check_disk.existing_parent(tmp_path) == str(tmp_path)


def test_shortfall_names_both_amounts_and_the_fix(check_disk, monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(check_disk.shutil, "disk_usage", lambda p: asked.append(p) or Usage(0, 0, 1.5 * GIB))
    with pytest.raises(SystemExit) as error:
        check_disk.require_free_space(tmp_path / ".venv", 7, "a new .venv")
    message = str(error.value)
    assert "a new .venv" in message and "1.5 GiB free" in message and "7 GiB needed" in message
    assert "Free some space" in message
    assert asked == [str(tmp_path)]  # the venv's parent, since the venv does not exist yet


def test_enough_space_returns_what_is_free(check_disk, monkeypatch, tmp_path):
    monkeypatch.setattr(check_disk.shutil, "disk_usage", lambda p: Usage(0, 0, 7 * GIB))
    assert check_disk.require_free_space(tmp_path, 7, "x") == pytest.approx(7.0)


def test_command_line_passes_and_fails_with_exit_status(tmp_path):
    tool = os.path.join(ROOT, "tools", "check_disk.py")
    ok = subprocess.run(
        [sys.executable, tool, "--path", str(tmp_path / ".venv"), "--need-gib", "0.001", "--what", "a test"],
        capture_output=True, text=True,
    )
    assert ok.returncode == 0 and "GiB free for a test (0.001 GiB needed)" in ok.stdout
    short = subprocess.run(
        [sys.executable, tool, "--path", str(tmp_path), "--need-gib", "1e9", "--what", "a test"],
        capture_output=True, text=True,
    )
    assert short.returncode == 1 and "Not enough disk space for a test" in short.stderr
