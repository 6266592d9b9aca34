"""Text-only records of finished benchmark runs: the part of a benchmark that lasts.

A run's folder under ``output/`` (checkpoints, logs, metrics.json) lives only as long as
the machine that trained it. Each finished run therefore also writes a small JSON record
under ``docs/results/runs/<profile>/<row>/seed<k>.json``, meant to be committed as soon as
it exists (``tools/benchmark.py --commit-records`` does that itself). A record holds
everything the tables need (every COCO metric, s/iter, wall time, the command, the
gradient balance) and what ties the run to its inputs: the cache key of its config,
overrides, schedule and seed, the sha256 of every checkpoint it started from or distilled
from, and the sha256 of its own final weights. Never a checkpoint.

The tables are built from records alone, so a RESULTS section can be written on a machine
that trained none of its runs; a run with a record (of the same key) is not trained again.
"""
import hashlib
import json
import os
import subprocess
import time
from typing import Dict, Iterable, List, Optional, Sequence

from d2kd.utils.io import atomic_write_text

__all__ = ["RecordStore", "weights_digest", "file_digest", "commit_record"]

RECORD_VERSION = 1


def file_digest(path: str) -> str:
    """sha256 of a file's bytes (a box cache, or any input that is not a checkpoint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_digest(path: str) -> str:
    """sha256 of the model weights in a detectron2 checkpoint (``{"model": state_dict, ...}``):
    every tensor's name, dtype, shape and bytes, in name order. Unlike the file's sha256 it
    does not depend on the optimizer state or the pickle's layout, so two trainings that
    end in the same weights give the same digest."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    digest = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        digest.update(name.encode())
        if hasattr(value, "numpy"):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def commit_record(path: str, message: str, attempts: int = 10, log=print) -> bool:
    """``git add`` and ``git commit`` the one file ``path`` (nothing else that is staged), so
    that a finished run survives a stopped session. Retries while another git command holds
    the index lock; returns whether the commit was made (a failure is logged, not raised:
    the record stays on disk to be committed by hand)."""
    folder = os.path.dirname(os.path.abspath(path))
    for attempt in range(attempts):
        add = subprocess.run(["git", "add", "--", path], cwd=folder, capture_output=True, text=True)
        commit = add if add.returncode else subprocess.run(
            ["git", "commit", "--quiet", "-m", message, "--", path], cwd=folder, capture_output=True, text=True)
        if commit.returncode == 0:
            return True
        error = (commit.stderr or commit.stdout).strip()
        if "index.lock" not in error:
            log(f"[benchmark] could not commit {path}: {error}; commit it by hand")
            return False
        time.sleep(1 + attempt)
    log(f"[benchmark] could not commit {path}: the git index stayed locked; commit it by hand")
    return False


class RecordStore:
    """The records of one profile: ``<folder>/<task name>.json`` (task names are
    ``<row>/seed<k>`` and ``box_cache``). ``shared``: folders of other profiles whose
    records of the same task and key count as done here too (profiles share rows, such as
    the teachers and the plain student); new records are written to ``folder`` only."""

    def __init__(self, folder: str, shared: Sequence[str] = ()):
        self.folder = folder
        self.shared = [f for f in shared if os.path.abspath(f) != os.path.abspath(folder)]

    @classmethod
    def beside_others(cls, folder: str) -> "RecordStore":
        """The store of ``folder``, sharing the records of every profile folder beside it."""
        parent = os.path.dirname(os.path.abspath(folder))
        others = sorted(os.path.join(parent, n) for n in os.listdir(parent)) if os.path.isdir(parent) else []
        return cls(folder, [o for o in others if os.path.isdir(o)])

    def path(self, task_name: str) -> str:
        return os.path.join(self.folder, f"{task_name}.json")

    def read(self, task_name: str) -> Optional[dict]:
        path = self.path(task_name)
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            return json.load(f)

    def matching(self, task_name: str, key: str) -> Optional[dict]:
        """The record of ``task_name`` if it was made with cache key ``key`` (the same config
        code, overrides, schedule, seed and inputs), here or in a shared folder, else None."""
        for folder in [self.folder, *self.shared]:
            record = RecordStore(folder).read(task_name)
            if record is not None and record.get("key") == key:
                return record
        return None

    def write(self, record: dict) -> str:
        path = self.path(record["task"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        return path

    def all(self) -> List[dict]:
        found = []
        for folder, _, files in os.walk(self.folder):
            for name in sorted(files):
                if name.endswith(".json"):
                    with open(os.path.join(folder, name)) as f:
                        found.append(json.load(f))
        return found

    def users_of(self, task_name: str, digest: str, names: Iterable[str] = ()) -> List[str]:
        """Tasks whose record says they used ``task_name``'s output with sha256 ``digest``."""
        wanted = set(names)
        users = []
        for record in self.all():
            used = (record.get("inputs") or {}).get(task_name)
            if used is not None and used.get("sha256") == digest and (not wanted or record["task"] in wanted):
                users.append(record["task"])
        return sorted(users)


def inconsistent_inputs(records: Dict[str, dict]) -> List[str]:
    """Lines naming each record whose input's sha256 differs from the sha256 that the input's
    own record gives (``records``: task name -> record): rows trained on a retrained teacher
    that did not reproduce the recorded one."""
    lines = []
    for name, record in sorted(records.items()):
        for used, info in sorted((record.get("inputs") or {}).items()):
            source = records.get(used)
            if source is not None and source.get("sha256") and info.get("sha256") != source["sha256"]:
                lines.append(f"{name} used {used} with sha256 {info.get('sha256', '?')[:12]}, "
                             f"its record gives {source['sha256'][:12]}")
    return lines
