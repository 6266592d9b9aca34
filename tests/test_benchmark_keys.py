"""Cache keys from the resolved config (benchmarks.runner.resolved_digest) and their
migration (benchmarks.migrate): a restructured config that trains the same keeps its runs,
a changed value does not, and committed records move to new keys with their folders."""
import json
import os
import shutil
import subprocess
import time

import pytest
from tool_runs import ROOT

from benchmarks import runner
from benchmarks.migrate import key_changes, keys_at, migrate_folders, migrate_records, plan_keys
from benchmarks.plan import PROFILES, rows_for
from benchmarks.records import RecordStore
from benchmarks.runner import plan_tasks, resolved_digest

BASE = '''from omegaconf import OmegaConf
train = OmegaConf.create({"output_dir": "./output/x", "max_iter": 10, "init_checkpoint": ""})
model = OmegaConf.create({"width": 16, "teachers": {"weights": "./output/t/model_final.pth"}})
'''


@pytest.fixture
def configs(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "ROOT", str(tmp_path))
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "base.py").write_text(BASE)
    return tmp_path


def test_resolved_digest_keeps_a_restructured_config_and_follows_values(configs):
    (configs / "flat.py").write_text(BASE + "model.width = 32\n")
    (configs / "layered.py").write_text(
        '"""Inherits the base."""\nfrom .common.base import train, model\n\nmodel.width = 32  # wider\n')
    flat = resolved_digest("flat.py", ["train.max_iter=20"])
    assert resolved_digest("layered.py", ["train.max_iter=20"]) == flat  # same values, other files
    assert resolved_digest("layered.py", ["train.max_iter=30"]) != flat
    assert resolved_digest("layered.py", ["train.max_iter=20", "model.width=16"]) != flat
    # where the run writes, and the paths of its inputs, are not what it trains
    assert resolved_digest("flat.py", ["train.max_iter=20", "train.output_dir=/a"]) == flat
    with_input = resolved_digest("flat.py", ["train.max_iter=20"], inputs=["model.teachers.weights"])
    assert with_input != flat
    assert resolved_digest("flat.py", ["train.max_iter=20", "model.teachers.weights=/other.pth"],
                           inputs=["model.teachers.weights"]) == with_input


def test_resolved_digest_names_functions_by_qualified_name():
    from omegaconf import OmegaConf

    from detectron2.config import LazyCall

    node = LazyCall(shutil.copy)(src="a")
    assert runner._canonical(node) == {"_target_": "copy", "src": "a"}
    assert runner._canonical(OmegaConf.create({"x": 0.1, "y": [1, True, None]})) == \
        {"x": "0.1", "y": [1, True, None]}

    class Opaque:
        pass

    with pytest.raises(runner.BenchmarkError, match="no stable form"):
        runner._canonical(Opaque())


def test_committed_records_match_the_current_plan():
    """Every committed record is found by the plan of its profile: a change that makes one
    stale (a config value) must rerun or drop it, and one that trains the same (a spelling)
    must migrate it (tools/benchmark.py --migrate-keys <commit>)."""
    records_root = os.path.join(ROOT, "docs", "results", "runs")
    profiles = sorted(os.listdir(records_root))
    assert profiles, "no committed records"
    for name in profiles:
        profile = PROFILES[name]
        seeds = lambda row, p=profile: sorted(set(p.seeds(row)) | set(p.headline_seeds))
        planned = {t.name: t.key for t in plan_tasks(profile, rows_for(profile), "/work-dir", seeds_for=seeds)}
        for record in RecordStore(os.path.join(records_root, name)).all():
            assert planned.get(record["task"]) == record["key"], (name, record["task"])


def _record(store, task, key, inputs=None):
    return store.write({"task": task, "key": key, "inputs": inputs or {}, "metrics": {"bbox/AP": 1.0}})


def test_migrate_moves_records_inputs_and_folders(tmp_path):
    work = tmp_path / "work"
    old_t, new_t = work / "teacher" / "seed0-aaaa", work / "teacher" / "seed0-bbbb"
    old_s, new_s = work / "student" / "seed1-cccc", work / "student" / "seed1-dddd"
    changes = {("p", "teacher/seed0"): (("aaaa", str(old_t)), ("bbbb", str(new_t))),
               ("p", "student/seed1"): (("cccc", str(old_s)), ("dddd", str(new_s)))}
    store = RecordStore(str(tmp_path / "runs" / "p"))
    _record(store, "teacher/seed0", "aaaa")
    _record(store, "student/seed1", "cccc", {"teacher/seed0": {"key": "aaaa", "sha256": "f00"}})
    _record(store, "student/seed2", "eeee")  # planned with no change: untouched
    other = RecordStore(str(tmp_path / "runs" / "q"))
    _record(other, "teacher/seed0", "aaaa")  # the same task in a profile whose key did not change
    old_t.mkdir(parents=True)
    (old_t / "result.json").write_text(json.dumps({"key": "aaaa", "metrics": {}}))
    old_s.mkdir(parents=True)
    new_s.mkdir(parents=True)  # taken: the old folder stays, and the log says so
    busy_old, busy_new = work / "busy" / "seed0-ffff", work / "busy" / "seed0-9999"
    busy_old.mkdir(parents=True)
    (busy_old / "log.txt").write_text("training")  # just written: a training may be running there
    changes[("p", "busy/seed0")] = (("ffff", str(busy_old)), ("9999", str(busy_new)))
    hour_ago = time.time() - 3600
    for folder in (old_t, old_s):
        for path in [folder, *folder.iterdir()]:
            os.utime(path, (hour_ago, hour_ago))
    lines = []

    rewritten = migrate_records(changes, str(tmp_path / "runs"), log=lines.append)
    assert sorted(os.path.relpath(p, tmp_path) for p in rewritten) == \
        ["runs/p/student/seed1.json", "runs/p/teacher/seed0.json"]
    student = store.read("student/seed1")
    assert student["key"] == "dddd" and student["migrated_from"] == ["cccc"]
    assert student["inputs"]["teacher/seed0"] == {"key": "bbbb", "sha256": "f00"}
    assert store.read("teacher/seed0")["key"] == "bbbb"
    assert store.read("student/seed2")["key"] == "eeee" and "migrated_from" not in store.read("student/seed2")
    assert other.read("teacher/seed0")["key"] == "aaaa"
    assert migrate_records(changes, str(tmp_path / "runs"), log=lines.append) == []  # idempotent

    moved = migrate_folders(changes, log=lines.append)
    assert moved == [(str(old_t), str(new_t))]
    assert json.loads((new_t / "result.json").read_text())["key"] == "bbbb"
    assert old_s.is_dir() and any("left in place" in l and str(old_s) in l for l in lines)
    assert busy_old.is_dir() and not busy_new.exists()
    assert any(str(busy_old) in l and "training running" in l for l in lines)


def _copy_of_the_project(dest):
    files = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard"], check=True,
                           capture_output=True, text=True).stdout.split("\n")
    for name in filter(None, files):
        source = os.path.join(ROOT, name)
        if os.path.isfile(source) and not name.startswith(("docs/results/", "datasets/")):
            os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(source, os.path.join(dest, name))
    git = ["git", "-C", str(dest), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "base"], check=True)
    return git


def test_keys_survive_a_config_restructure_and_follow_a_value_change(tmp_path):
    """Through the real planner, at a commit and in the tree (the converged probes)."""
    repo = tmp_path / "repo"
    git = _copy_of_the_project(repo)
    student = repo / "configs" / "Shapes" / "faster_rcnn_R18w16_FPN.py"
    original = student.read_text()
    student.write_text(original.replace("num_classes = 6\n", "num_classes = 3 + 3\n"))
    subprocess.run(git + ["commit", "-qam", "same value, other spelling"], check=True)
    before = keys_at("HEAD~1", str(repo), str(tmp_path / "work"), ["converged_probes"])
    assert sorted(before["converged_probes"]) == [
        "conv_student_1500/seed0", "conv_student_3000/seed0", "conv_student_6000/seed0",
        "conv_teacher_r18w64_1500/seed0", "conv_teacher_r18w64_3000/seed0"]
    now = plan_keys(str(repo), str(tmp_path / "work"), ["converged_probes"])
    assert now == before and key_changes(before, now) == {}

    student.write_text(original.replace("optimizer.lr = 2e-3", "optimizer.lr = 3e-3"))
    changed = key_changes(before, plan_keys(str(repo), str(tmp_path / "work"), ["converged_probes"]))
    assert sorted(task for _, task in changed) == [
        "conv_student_1500/seed0", "conv_student_3000/seed0", "conv_student_6000/seed0"]
    for (old_key, old_dir), (new_key, new_dir) in changed.values():
        assert old_dir.endswith(old_key) and new_dir.endswith(new_key) and old_key != new_key


def test_a_target_given_by_its_dotted_name_is_keyed_as_the_object_it_names():
    """Upstream detectron2's configs give some targets as strings ("detectron2.layers.ShapeSpec")
    where v0.6 gives the class: the same config must get the same key under either."""
    from detectron2.layers import ShapeSpec

    from benchmarks.runner import _canonical

    as_class = _canonical({"_target_": ShapeSpec, "channels": 8})
    assert _canonical({"_target_": "detectron2.layers.ShapeSpec", "channels": 8}) == as_class
    assert as_class == {"_target_": ShapeSpec.__qualname__, "channels": 8}
    assert _canonical({"_target_": "no_such_module.Thing"}) == {"_target_": "no_such_module.Thing"}
