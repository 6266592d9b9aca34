"""Files written so that an interruption never leaves a partial one: each is written to a
temporary file beside its target, ``<target>.tmp-<pid>``, then renamed over it
(``os.replace`` is atomic on one file system). A process killed while writing (SIGKILL,
out of memory, a power cut) cannot remove its temporary file; the next write of the same
target removes it, and only such files: the exact name ``<target>.tmp-<pid>`` whose
process no longer runs (a live writer's file is left alone).

Likewise for folders: a run that fails before it wrote anything leaves no empty folder
behind (:func:`removing_new_empty_folders`)."""
import contextlib
import hashlib
import os
import re
import shutil
from typing import Callable, Iterable

import torch

__all__ = ["atomic_torch_save", "atomic_copy", "atomic_write_text", "file_sha256", "remove_stale_temporaries",
           "removing_new_empty_folders"]


def _pid_is_running(pid: int) -> bool:
    """Whether a process with id ``pid`` exists on this machine (signal 0 checks, sends nothing)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, as another user's process
        return True
    return True


def remove_stale_temporaries(path: str) -> list:
    """Remove the temporary files ``<path>.tmp-<pid>`` that writers of ``path`` killed
    mid-write left behind: exactly that name, ``pid`` all digits, no running process with
    that id, and not this process's own. Returns the removed paths."""
    folder = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(os.path.basename(path)) + r"\.tmp-([0-9]+)")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _pid_is_running(pid):
            continue
        stale = os.path.join(folder, name)
        try:
            if os.path.isfile(stale) and not os.path.islink(stale):
                os.remove(stale)
                removed.append(stale)
        except OSError:  # removed meanwhile by another writer, or not ours to remove
            pass
    return removed


def _replace_via_tmp(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it over ``path``; the
    temporary file is removed whatever happens, and those that killed writers of ``path``
    left behind are removed first (:func:`remove_stale_temporaries`)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    remove_stale_temporaries(path)
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


@contextlib.contextmanager
def removing_new_empty_folders(folders: Iterable[str]):
    """A block after which none of ``folders`` is left empty by a failure: when the block
    raises, each of ``folders`` that did not exist when it began and is empty now (the
    checks before training made it, nothing was written into it) is removed, the deepest
    first, and the error goes on. Folders that existed before, or that hold a file, are
    left as they are; a folder that cannot be removed (another process wrote into it
    meanwhile) is left too."""
    new = sorted({os.path.abspath(f) for f in folders if not os.path.exists(f)}, key=len, reverse=True)
    try:
        yield
    except BaseException:
        for folder in new:
            try:
                if os.path.isdir(folder) and not os.listdir(folder):
                    os.rmdir(folder)
            except OSError:
                pass
        raise
