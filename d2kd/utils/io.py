"""Files written so that an interruption never leaves a partial one: each is written to a
temporary file beside its target, then renamed over it (``os.replace`` is atomic on one
file system)."""
import hashlib
import os
import shutil
from typing import Callable

import torch

__all__ = ["atomic_torch_save", "atomic_copy", "atomic_write_text", "file_sha256"]


def _replace_via_tmp(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it over ``path``; the
    temporary file is removed whatever happens."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save(obj, path)``, atomically."""
    _replace_via_tmp(path, lambda tmp: torch.save(obj, tmp))


def atomic_copy(src: str, dst: str) -> None:
    """Copy the file ``src`` to ``dst`` atomically. A copy, not a hard link: a later save
    that rewrites ``src`` in place must not change ``dst``."""
    _replace_via_tmp(dst, lambda tmp: shutil.copyfile(src, tmp))


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    _replace_via_tmp(path, write)


def file_sha256(path: str, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of the file ``path``'s bytes (read in chunks: checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()
