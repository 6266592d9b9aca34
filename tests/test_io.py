"""Atomic writes (d2kd.utils.io): the target is whole or absent, never partial."""
import os
import signal
import subprocess
import sys

import pytest
import torch
from tool_runs import ROOT, run_tool

from d2kd.utils import io


def test_an_interrupted_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "student.pth"
    io.atomic_torch_save({"model": {"w": torch.ones(2)}}, str(target))
    assert torch.equal(torch.load(target, weights_only=True)["model"]["w"], torch.ones(2))

    def interrupted(obj, path):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(io.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.atomic_torch_save({"model": {"w": torch.zeros(2)}}, str(target))
    assert torch.equal(torch.load(target, weights_only=True)["model"]["w"], torch.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["student.pth"]


def test_copy_and_text_are_whole(tmp_path):
    src = tmp_path / "a.pth"
    src.write_bytes(b"12345")
    io.atomic_copy(str(src), str(tmp_path / "sub" / "b.pth"))
    assert (tmp_path / "sub" / "b.pth").read_bytes() == b"12345"
    io.atomic_write_text(str(tmp_path / "r.json"), "{}")
    io.atomic_write_text(str(tmp_path / "r.json"), '{"a": 1}')
    assert (tmp_path / "r.json").read_text() == '{"a": 1}'
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.pth", "b.pth", "r.json", "sub"]


def _dead_pid() -> int:
    """The id of a process that has ended (a child that ran and was waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_write_removes_only_the_stale_temporaries_of_its_target(tmp_path):
    target = tmp_path / "student.pth"
    dead = _dead_pid()
    stale = tmp_path / f"student.pth.tmp-{dead}"
    live_writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [
            tmp_path / f"student.pth.tmp-{live_writer.pid}",  # a writer still running
            tmp_path / f"other.pth.tmp-{dead}",  # another target's
            tmp_path / f"student.pth.tmp-{dead}.bak",  # not the exact pattern
            tmp_path / "student.pth.tmp-12ab",
            tmp_path / f"xstudent.pth.tmp-{dead}",
        ]
        for path in [stale, *keep]:
            path.write_bytes(b"partial")
        io.atomic_torch_save({"model": {"w": torch.ones(2)}}, str(target))
        assert not stale.exists()
        assert all(path.exists() for path in keep)
        assert torch.equal(torch.load(target, weights_only=True)["model"]["w"], torch.ones(2))
    finally:
        live_writer.kill()
        live_writer.wait()


KILLED_EXPORT = """
import os, signal, sys
import torch
from d2kd.utils.io import atomic_torch_save

class KilledWhilePickled:  # SIGKILL in the middle of torch.save: no finally runs
    def __reduce__(self):
        os.kill(os.getpid(), signal.SIGKILL)

atomic_torch_save({"model": {"w": torch.ones(2)}, "x": KilledWhilePickled()}, sys.argv[1])
"""


def test_an_export_after_a_killed_one_leaves_no_temporary_file(tmp_path):
    output = tmp_path / "student.pth"
    killed = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(output)], cwd=ROOT)
    assert killed.wait() == -signal.SIGKILL
    # what a killed write leaves: its temporary file, the target absent
    assert [p.name for p in tmp_path.iterdir()] == [f"student.pth.tmp-{killed.pid}"]

    checkpoint = tmp_path / "model_final.pth"
    torch.save({"model": {"student.w": torch.ones(3), "adapters.0.w": torch.zeros(1)}}, checkpoint)
    run_tool("export_student.py", "--checkpoint", checkpoint, "--output", output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_final.pth", "student.pth"]
    assert torch.equal(torch.load(output, weights_only=True)["model"]["w"], torch.ones(3))



def test_a_failed_block_removes_only_the_new_empty_folders(tmp_path):
    before, new, written, untouched = (tmp_path / n for n in ("before", "new", "written", "untouched"))
    before.mkdir()
    with pytest.raises(RuntimeError, match="failed"):
        with io.removing_new_empty_folders([str(before), str(new), str(new / "stage1"), str(written),
                                            str(untouched)]):
            (new / "stage1").mkdir(parents=True)  # as check_output_dir makes them
            written.mkdir()
            (written / "log.txt").write_text("a run's file")
            raise RuntimeError("failed")
    assert before.is_dir()  # there before: kept, even empty
    assert not new.exists()  # made in the block and empty: removed, the deepest first
    assert (written / "log.txt").is_file()  # holds a file: kept
    assert not untouched.exists()

    with io.removing_new_empty_folders([str(new)]):  # no error: nothing is removed
        new.mkdir()
    assert new.is_dir()
