"""Carry committed records and run folders over to new cache keys.

A run's key (:mod:`benchmarks.runner`) hashes the config as the run resolves it. A change of
how keys are made (a new ``KEY_SCHEME``), or a change of a config's spelling that trains the
same model (a key renamed, its old name deprecated), gives runs new keys: their records and
folders stop matching and the runs would be trained again. ``tools/benchmark.py
--migrate-keys <commit>`` plans every profile as the code was at ``<commit>`` (in a
temporary git worktree) and as it is now, pairs the tasks by profile and name, and moves
each record and run folder whose key was the old one to the new key. It is for changes that
do not change what a run trains; the records keep the old key under ``migrated_from``.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from d2kd.utils.io import atomic_write_text

from .records import RecordStore

__all__ = ["plan_keys", "keys_at", "key_changes", "migrate_records", "migrate_folders"]

# {profile: {task: [key, output_dir]}}: the planner's interface kept since the first keyed
# records (PROFILES, rows_for, plan_tasks(..., seeds_for=)); every seed a profile may run
_PLAN_KEYS = """
import json, sys
from benchmarks.plan import PROFILES, rows_for
from benchmarks.runner import plan_tasks
work_dir, wanted = sys.argv[1], sys.argv[2:]
keys = {}
for name, profile in sorted(PROFILES.items()):
    if wanted and name not in wanted:
        continue
    seeds = lambda row, p=profile: sorted(set(p.seeds(row)) | set(p.headline_seeds))
    tasks = plan_tasks(profile, rows_for(profile), work_dir, seeds_for=seeds)
    keys[name] = {t.name: [t.key, t.output_dir] for t in tasks}
print("PLAN-KEYS " + json.dumps(keys))
"""

Keys = Dict[str, Dict[str, Tuple[str, str]]]  # profile -> task -> (key, output folder)


def _run_planner(root: str, work_dir: str, profiles: Sequence[str]) -> Keys:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root, os.path.join(root, "projects", "DFMSD"), os.path.join(root, "projects", "MKD")]))
    done = subprocess.run([sys.executable, "-c", _PLAN_KEYS, os.path.abspath(work_dir), *profiles],
                          cwd=root, env=env, capture_output=True, text=True)
    lines = [l for l in done.stdout.splitlines() if l.startswith("PLAN-KEYS ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"Planning the benchmark in {root} failed:\n{done.stderr[-3000:]}")
    return {p: {t: tuple(v) for t, v in tasks.items()} for p, tasks in json.loads(lines[-1][10:]).items()}


def plan_keys(root: str, work_dir: str, profiles: Sequence[str] = ()) -> Keys:
    """Every task's key and folder in the code at ``root`` (a checkout), per profile."""
    return _run_planner(root, work_dir, profiles)


def keys_at(commit: str, repo: str, work_dir: str, profiles: Sequence[str] = ()) -> Keys:
    """:func:`plan_keys` of the code at ``commit`` of the git repository ``repo``."""
    with tempfile.TemporaryDirectory(prefix="d2kd-keys-") as tmp:
        tree = os.path.join(tmp, "tree")
        subprocess.run(["git", "-C", repo, "worktree", "add", "--detach", "-q", tree, commit],
                       check=True, capture_output=True)
        try:
            return plan_keys(tree, work_dir, profiles)
        finally:
            subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", tree], capture_output=True)


def key_changes(old: Keys, new: Keys) -> Dict[Tuple[str, str], Tuple[Tuple[str, str], Tuple[str, str]]]:
    """``(profile, task) -> ((old key, old folder), (new key, new folder))`` for every task
    planned both times whose key changed."""
    changes = {}
    for profile, tasks in new.items():
        for name, now in tasks.items():
            before = old.get(profile, {}).get(name)
            if before is not None and before[0] != now[0]:
                changes[(profile, name)] = (tuple(before), tuple(now))
    return changes


def migrate_records(changes, records_root: str, log: Callable[[str], None] = print) -> List[str]:
    """Move the records under ``records_root/<profile>/`` whose key is a task's old key to its
    new key (and their inputs' keys likewise). Returns the paths rewritten."""
    rewritten = []
    for profile in sorted(os.listdir(records_root)) if os.path.isdir(records_root) else []:
        store = RecordStore(os.path.join(records_root, profile))
        if not os.path.isdir(store.folder):
            continue
        for record in store.all():
            change = changes.get((profile, record["task"]))
            if change is None or record.get("key") != change[0][0]:
                continue
            record["migrated_from"] = [*record.get("migrated_from", []), record["key"]]
            record["key"] = change[1][0]
            for used, info in (record.get("inputs") or {}).items():
                source = changes.get((profile, used))
                if source is not None and info.get("key") == source[0][0]:
                    info["key"] = source[1][0]
            rewritten.append(store.write(record))
            log(f"[migrate] {profile}/{record['task']}: key {change[0][0]} -> {change[1][0]}")
    return rewritten


RECENT_S = 300  # a folder written this recently may belong to a training still running


def _written_within(folder: str, seconds: float) -> bool:
    newest = max((os.path.getmtime(os.path.join(folder, n)) for n in os.listdir(folder)),
                 default=os.path.getmtime(folder))
    return time.time() - newest < seconds


def migrate_folders(changes, log: Callable[[str], None] = print) -> List[Tuple[str, str]]:
    """Rename each run folder of an old key to its new key's folder (and the key in its
    ``result.json``). A folder whose new name is taken, or written in the last
    :data:`RECENT_S` seconds (a training may be running in it), is left, and named in the log."""
    moved = []
    for (profile, task), ((old_key, old_dir), (new_key, new_dir)) in sorted(changes.items()):
        if not os.path.isdir(old_dir):
            continue
        if _written_within(old_dir, RECENT_S):
            log(f"[migrate] {old_dir} left in place: written in the last {RECENT_S // 60} minutes "
                "(a training running?); migrate again when it has stopped")
            continue
        if os.path.exists(new_dir):
            log(f"[migrate] {old_dir} left in place: {new_dir} exists")
            continue
        os.makedirs(os.path.dirname(new_dir), exist_ok=True)
        os.rename(old_dir, new_dir)
        result = os.path.join(new_dir, "result.json")
        if os.path.isfile(result):
            with open(result) as f:
                data = json.load(f)
            if data.get("key") == old_key:
                data["key"] = new_key
                atomic_write_text(result, json.dumps(data, indent=1, sort_keys=True) + "\n")
        moved.append((old_dir, new_dir))
        log(f"[migrate] {old_dir} -> {new_dir}")
    return moved


def migrate(commit: str, repo: str, records_root: str, work_dir: str, profiles: Sequence[str] = (),
            log: Callable[[str], None] = print, dry_run: bool = False) -> Optional[dict]:
    """Plan at ``commit`` and here, then move records and run folders to the new keys."""
    old = keys_at(commit, repo, work_dir, profiles)
    new = plan_keys(repo, work_dir, profiles)
    changes = key_changes(old, new)
    log(f"[migrate] {len(changes)} of {sum(len(t) for t in new.values())} planned tasks changed key "
        f"since {commit}")
    if dry_run:
        for (profile, task), (before, now) in sorted(changes.items()):
            log(f"[migrate] would move {profile}/{task}: {before[0]} -> {now[0]}")
        return None
    return {"records": migrate_records(changes, records_root, log), "folders": migrate_folders(changes, log)}
