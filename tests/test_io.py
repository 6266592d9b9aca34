"""Atomic writes (d2kd.utils.io): the target is whole or absent, never partial."""
import os

import pytest
import torch

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
