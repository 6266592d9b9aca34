"""Benchmarks that survive a stopped session (benchmarks/records.py, the budget and the
status of tools/benchmark.py): records by hand, the scheduler with a deadline, and a tiny
profile interrupted, its run folders deleted, and carried on from its records alone."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from tool_runs import TINY_DATA, load_tool

from benchmarks.plan import Profile, row_by_name, with_overrides
from benchmarks.records import RecordStore, commit_record, inconsistent_inputs, weights_digest
from benchmarks.runner import (WALL_FILE, Task, _progress, _progress_line, earlier_wall_s, estimate_seconds,
                               note_wall_s, resumed_at, run_tasks, task_states)
from benchmarks.session import plan_lines, run_benchmark, status_lines


def _checkpoint(path, weight, iteration=0):
    torch.save({"model": {"conv.weight": weight, "conv.bias": torch.zeros(2)}, "iteration": iteration,
                "optimizer": {"lr": iteration}}, path)
    return str(path)


def test_weights_digest_follows_the_weights_not_the_rest_of_the_checkpoint(tmp_path):
    weight = torch.arange(6, dtype=torch.float32).view(2, 3)
    a = weights_digest(_checkpoint(tmp_path / "a.pth", weight, iteration=5))
    b = weights_digest(_checkpoint(tmp_path / "b.pth", weight.clone(), iteration=9))
    assert a == b and len(a) == 64
    changed = weight.clone()
    changed[1, 2] += 1e-6
    assert weights_digest(_checkpoint(tmp_path / "c.pth", changed)) != a
    assert weights_digest(_checkpoint(tmp_path / "d.pth", weight.double())) != a  # dtype counts


def _task(tmp_path, name, needs=(), seconds=0.0, row=None, iterations=0):
    command = [sys.executable, "-c", f"import time; time.sleep({seconds})"]
    return Task(name, row, 0, f"key-{name}", str(tmp_path / "work" / name), command, tuple(needs),
                iterations=iterations)


def test_task_states_retrain_a_recorded_teacher_only_when_a_run_to_do_needs_its_checkpoint(tmp_path):
    store = RecordStore(str(tmp_path / "records"))
    teacher, init = _task(tmp_path, "teacher"), _task(tmp_path, "init")
    student = _task(tmp_path, "student", needs=["init"])
    distilled = _task(tmp_path, "distilled", needs=["init", "teacher"])
    for t in (teacher, init, student):
        store.write({"task": t.name, "key": t.key})
    store.write({"task": "distilled", "key": "an older key"})  # the config changed since
    assert task_states([teacher, init, student, distilled], store) == {
        "teacher": "retrain", "init": "retrain", "student": "record", "distilled": "to run"}
    # with every run recorded, nothing is trained again: the tables need no checkpoint
    store.write({"task": "distilled", "key": distilled.key})
    assert set(task_states([teacher, init, student, distilled], store).values()) == {"record"}
    # a teacher whose checkpoint is on this machine is not trained again
    store.write({"task": "distilled", "key": "an older key"})
    os.makedirs(teacher.output_dir)
    open(teacher.artifact, "w").close()
    assert task_states([teacher, init, distilled], store) == {
        "teacher": "record", "init": "retrain", "distilled": "to run"}


def test_records_name_the_runs_that_used_another_checkpoint(tmp_path):
    store = RecordStore(str(tmp_path / "records"))
    store.write({"task": "teacher/seed0", "key": "t", "sha256": "aaa"})
    store.write({"task": "fitnet/seed0", "key": "f0", "inputs": {"teacher/seed0": {"key": "t", "sha256": "aaa"}}})
    store.write({"task": "fitnet/seed1", "key": "f1", "inputs": {"teacher/seed0": {"key": "t", "sha256": "bbb"}}})
    assert store.users_of("teacher/seed0", "aaa") == ["fitnet/seed0"]
    records = {r["task"]: r for r in store.all()}
    assert inconsistent_inputs(records) == ["fitnet/seed1 used teacher/seed0 with sha256 bbb, its record gives aaa"]
    assert os.path.isfile(tmp_path / "records" / "fitnet" / "seed1.json")


def test_estimates_come_from_the_rows_records_then_the_configs_then_any(tmp_path):
    row, other = row_by_name("sanity_student"), row_by_name("sanity_wide_lo")
    task = replace(_task(tmp_path, "sanity_student/seed1", row=row, iterations=300), config=row.config)
    known = [{"row": "sanity_student", "config": row.config, "wall_s": 100.0, "iterations": 200},
             {"row": "sanity_wide_lo", "config": other.config, "wall_s": 900.0, "iterations": 300}]
    assert estimate_seconds(task, known) == (150.0, "this row's records")
    assert estimate_seconds(task, known[1:]) == (900.0, "all records")
    assert estimate_seconds(task, [])[1] == "a guess"
    # a run that was resumed near its end: its logged seconds per iteration count, not its wall time
    resumed = [{"row": "sanity_student", "config": row.config, "wall_s": 20.0, "iterations": 1000,
                "s_per_iter": 0.9}]
    assert estimate_seconds(task, resumed) == (pytest.approx(270.0), "this row's records")


def test_a_budget_starts_what_fits_and_stops_what_overruns_it(tmp_path):
    store = RecordStore(str(tmp_path / "records"))
    # earlier records (of other keys) say how long each took: 1 s and 600 s
    store.write({"task": "overruns", "key": "old", "wall_s": 1.0})
    store.write({"task": "too_long", "key": "old", "wall_s": 600.0})
    overruns = _task(tmp_path, "overruns", seconds=60)
    too_long = _task(tmp_path, "too_long", seconds=0)
    lines = []
    start = time.time()
    summary = run_tasks([overruns, too_long], jobs=2, log=lines.append, store=store, deadline=start + 3)
    assert time.time() - start < 30
    assert summary.stopped == ["overruns"] and summary.not_started == ["too_long"] and not summary.complete
    assert not any("too_long: started" in line for line in lines)
    assert any("overruns: stopped at the budget" in line for line in lines)
    assert any(re.search(r"budget reached: 0 run\(s\) finished now, 2 left", line) for line in lines)


def test_a_run_in_pieces_records_the_wall_time_of_all_of_them(tmp_path):
    """A run stopped by the budget (or a session's end) keeps its wall seconds in its folder; the
    invocation that finishes it records their sum, not its own piece."""
    store = RecordStore(str(tmp_path / "records"))
    store.write({"task": "pieces", "key": "old", "wall_s": 1.0})  # an estimate that fits the budget
    first = _task(tmp_path, "pieces", seconds=60)
    start = time.time()
    assert run_tasks([first], jobs=1, log=lambda line: None, store=store, deadline=start + 2).stopped == ["pieces"]
    stopped_after = float(open(os.path.join(first.output_dir, WALL_FILE)).read())
    assert 1.5 <= stopped_after <= time.time() - start
    # the session ended by a kill: only the last note (every progress line) is left; here 100 s
    note_wall_s(first, 100.0)
    assert earlier_wall_s(first) == 100.0
    last_piece = replace(first, command=[sys.executable, "-c", "import time; time.sleep(1)"])
    before = time.time()
    run_tasks([last_piece], jobs=1, log=lambda line: None)
    result = json.load(open(last_piece.result_path))
    assert 101.0 <= result["wall_s"] <= 100.0 + (time.time() - before) + 0.1
    assert float(open(os.path.join(first.output_dir, WALL_FILE)).read()) == result["wall_s"]
    assert earlier_wall_s(_task(tmp_path, "fresh")) == 0.0


def test_progress_counts_the_iterations_of_every_sal_stage(tmp_path):
    task = _task(tmp_path, "dfmsd/seed0", iterations=300)
    for stage, last in (("stage1", 149), ("stage2", 49)):
        os.makedirs(os.path.join(task.output_dir, stage))
        with open(os.path.join(task.output_dir, stage, "metrics.json"), "w") as f:
            f.write("".join(json.dumps({"iteration": i}) + "\n" for i in range(0, last + 1, 10) if i) +
                    json.dumps({"iteration": last, "bbox/AP": 1.0}) + "\n")
    assert _progress(task) == 200


def test_progress_line_eta_counts_only_this_pieces_pace(tmp_path):
    task = _task(tmp_path, "fitnet/seed0", iterations=3000)
    os.makedirs(task.output_dir)
    with open(os.path.join(task.output_dir, "metrics.json"), "w") as f:
        f.write(json.dumps({"iteration": 2399}) + "\n")
    # resumed at 2200, 200 iterations in 60 s here: 600 left at that pace is 3.0 min
    # (counting the folder's 2400 in 60 s would say 0.2)
    assert _progress_line(task, 60.0, done_at_start=2200).endswith("iteration 2400/3000 after 1.0 min, ETA 3.0 min")
    assert _progress_line(task, 60.0).endswith("ETA 0.2 min")  # a fresh start: all 2400 in this piece
    assert "ETA" not in _progress_line(task, 60.0, done_at_start=2400)  # no iteration yet in this piece


def test_progress_of_a_resumed_run_is_its_last_record_not_its_highest(tmp_path):
    task = _task(tmp_path, "fitnet/seed0", iterations=3000)
    os.makedirs(task.output_dir)
    # stopped at 1960 after a checkpoint at 1900; the resumed piece has logged 1919 so far
    with open(os.path.join(task.output_dir, "metrics.json"), "w") as f:
        f.writelines(json.dumps({"iteration": i}) + "\n" for i in (1899, 1919, 1939, 1959, 1919))
    assert _progress(task) == 1920
    with open(os.path.join(task.output_dir, "metrics.json"), "a") as f:
        f.write('{"iteration": 19')  # a line the training is writing now
    assert _progress(task) == 1920
    with open(os.path.join(task.output_dir, "metrics.json"), "a") as f:
        f.write('39}\n')
    assert _progress(task) == 1940


def test_commit_record_commits_that_file_only(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "config", "user.name", "t"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.email", "t@t"], cwd=repo, check=True)
    (repo / "work.py").write_text("x = 1\n")
    subprocess.run(git + ["add", "work.py"], cwd=repo, check=True)  # someone's staged work
    store = RecordStore(str(repo / "docs" / "results" / "runs" / "p"))
    path = store.write({"task": "student/seed0", "key": "k"})
    assert commit_record(path, "Benchmark record: p student/seed0", log=print)
    shown = subprocess.run(["git", "show", "--name-only", "--format=%s", "HEAD"], cwd=repo, capture_output=True,
                           text=True, check=True).stdout.split()
    assert shown[:4] == ["Benchmark", "record:", "p", "student/seed0"]
    assert shown[4:] == ["docs/results/runs/p/student/seed0.json"]
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True)
    assert staged.stdout.split() == ["work.py"]  # still staged, not committed


def test_session_flags_are_not_part_of_the_reported_command():
    tool = load_tool("benchmark")
    argv = ["--profile", "sanity", "--budget-minutes", "30", "--jobs", "2", "--commit-records",
            "--budget-minutes=5"]
    assert tool._without_session_flags(argv) == ["--profile", "sanity", "--jobs", "2"]
    assert tool._without_session_flags(["--jobs", "2", "--results", "/elsewhere/docs/RESULTS.md"]) == ["--jobs", "2"]
    assert tool._without_session_flags(["--results", "my.md"]) == ["--results", "my.md"]


# -------------------------------------------- a tiny profile, interrupted and carried on

def _tiny_profile_rows():
    shrink = ["backbone.bottom_up.stages.base_width=8"]
    return [
        with_overrides(row_by_name("teacher_strong"), [f"model.{shrink[0]}", "model.backbone.out_channels=32"]),
        with_overrides(row_by_name("student_init"), [f"model.{shrink[0]}", "model.backbone.out_channels=16"]),
        with_overrides(row_by_name("student"), [f"model.{shrink[0]}", "model.backbone.out_channels=16"]),
        with_overrides(row_by_name("fitnet"), [f"model.student.{shrink[0]}", "model.student.backbone.out_channels=16",
                                               f"model.teachers.model.{shrink[0]}",
                                               "model.teachers.model.backbone.out_channels=32"]),
    ]


def _section(path):
    text = path.read_text()
    return text[text.index("<!-- begin benchmark-tiny_records -->"):text.index("<!-- end benchmark-tiny_records -->")]


def _started(lines):
    return sorted(re.search(r"\) (\S+): started", line).group(1) for line in lines if ": started" in line)


def test_a_profile_carried_on_from_its_records_alone(tmp_path, monkeypatch):
    """Part of a profile runs; its run folders are deleted (a new machine); the same command
    trains only the missing row and the two checkpoints it needs, which come out with the
    recorded weights (training is deterministic); with the folders deleted once more, the
    section is written again from the records alone, the same table, nothing trained."""
    monkeypatch.setenv("D2KD_DATASETS", str(tmp_path / "data"))
    profile = Profile(name="tiny_records", rows=(), student_iters=2, teacher_iters=2, student_init="student_init",
                      init_iters=1, overrides=tuple(TINY_DATA), threads=1, description="test",
                      distill_overrides=("model.min_input_size=96",))
    rows = _tiny_profile_rows()
    results_path = tmp_path / "docs" / "RESULTS.md"
    results_path.parent.mkdir()
    work = tmp_path / "work"
    records = tmp_path / "docs" / "results" / "runs" / "tiny_records"
    run = dict(jobs=2, costs=False, plots=False, command="python tools/benchmark.py --tiny")

    first = []  # interrupted: the plain student's part only
    run_benchmark(profile, rows[:3], str(work), str(results_path), log=first.append, **run)
    assert _started(first) == ["student/seed0", "student_init/seed0", "teacher_strong/seed0"]
    kept = {p: p.read_text() for p in records.rglob("*.json")}
    assert sorted(str(p.relative_to(records)) for p in kept) == [
        "student/seed0.json", "student_init/seed0.json", "teacher_strong/seed0.json"]
    student = json.loads((records / "student" / "seed0.json").read_text())
    init = json.loads((records / "student_init" / "seed0.json").read_text())
    assert student["inputs"] == {"student_init/seed0": {"key": init["key"], "sha256": init["sha256"]}}
    assert student["iterations"] == 2 and student["splits"] == {"d2kd_shapes_tiny_val": student["metrics"]}
    assert "bbox/AP" in student["metrics"] and len(student["sha256"]) == 64 and student["config_digest"]

    shutil.rmtree(work)  # a new machine: only the records are left
    second = []
    tasks, results = run_benchmark(profile, rows, str(work), str(results_path), log=second.append, **run)
    assert _started(second) == ["fitnet/seed0", "student_init/seed0", "teacher_strong/seed0"]
    for name in ("teacher_strong/seed0", "student_init/seed0"):
        assert any(f"{name}: trained again, the same weights as its record" in line for line in second), second
    assert {p: p.read_text() for p in kept} == kept  # the records of runs not trained again are untouched
    fitnet = json.loads((records / "fitnet" / "seed0.json").read_text())
    teacher = json.loads((records / "teacher_strong" / "seed0.json").read_text())
    assert fitnet["inputs"]["teacher_strong/seed0"]["sha256"] == teacher["sha256"]
    section = _section(results_path)
    assert re.search(r"^\| FitNet \|", section, re.MULTILINE) and "Not finished" not in section

    shutil.rmtree(work)
    third = []
    run_benchmark(profile, rows, str(work), str(results_path), log=third.append, **run)
    assert _started(third) == [] and any("4 of 4 runs cached; 0 to run" in line for line in third)
    assert _section(results_path) == section
    status = status_lines(profile, rows, str(work), str(results_path))
    assert status[-1].startswith("4 of 4 runs done; 0 left") and not any("WARNING" in s for s in status)
    # --plan sees what the runner sees: done by record, though this machine has no folder
    assert sorted(line.split()[:3] for line in plan_lines(profile, rows, str(work), str(results_path))) == [
        ["cached", "(record)", name] for name in
        ["fitnet/seed0", "student/seed0", "student_init/seed0", "teacher_strong/seed0"]]


def test_status_through_the_tool_names_every_run_and_its_estimate(tmp_path, capsys):
    tool = load_tool("benchmark")
    results = tmp_path / "docs" / "RESULTS.md"
    record = tmp_path / "docs" / "results" / "runs" / "sanity_methods" / "sanity_student" / "seed0.json"
    tool.main(["--profile", "sanity_methods", "--status", "--work-dir", str(tmp_path / "work"),
               "--results", str(results), "--budget-minutes", "30"])
    out = capsys.readouterr().out
    assert re.search(r"sanity_student/seed0 +to run, about 10\.0 min \(a guess\)", out)
    assert re.search(r"sanity_teacher_wide/seed0 +to run, about 33\.3 min \(a guess\)", out)
    assert "Within --budget-minutes 30" in out and not record.exists()
    with pytest.raises(SystemExit):
        tool.main(["--profile", "sanity_methods", "--budget-minutes", "0", "--results", str(results)])
    assert "--budget-minutes 0: give a positive number of minutes" in capsys.readouterr().err


def test_resumed_at_names_each_resume_inside_a_stage(tmp_path):
    def log(folder, *starts):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "log.txt").write_text("".join(
            f"[12/07 08:02:22 d2.engine.train_loop]: Starting training from iteration {s}\n" for s in starts))

    log(tmp_path / "one", 0)
    log(tmp_path / "finished_then_evaluated", 0, 150)  # started again at its end: evaluation only
    log(tmp_path / "sal" / "stage1", 0, 100)
    log(tmp_path / "sal" / "stage2", 0)
    assert resumed_at(str(tmp_path / "one"), 150) == []
    assert resumed_at(str(tmp_path / "finished_then_evaluated"), 150) == []
    assert resumed_at(str(tmp_path / "sal"), 150) == ["stage1:100"]


def test_a_profile_counts_the_records_of_profiles_beside_it(tmp_path):
    runs = tmp_path / "runs"
    RecordStore(str(runs / "sanity")).write({"task": "student/seed0", "key": "k"})
    store = RecordStore.beside_others(str(runs / "ablations"))
    assert store.matching("student/seed0", "k")["key"] == "k"
    assert store.matching("student/seed0", "other key") is None
    store.write({"task": "mkd/seed0", "key": "m"})
    assert os.path.isfile(runs / "ablations" / "mkd" / "seed0.json")
    assert RecordStore(str(runs / "sanity")).matching("mkd/seed0", "m") is None  # written here only


def test_a_report_split_is_evaluated_after_training_and_recorded_beside_val(tmp_path, monkeypatch):
    """A profile's report split (the held-out test split) is evaluated on each run's final
    weights by the training tool's --eval-only, a distillation row's student included; its
    metrics go to the record's ``splits`` beside the run's own (val) metrics, which stay the
    ones the tables choose by."""
    from benchmarks.runner import plan_tasks

    monkeypatch.setenv("D2KD_DATASETS", str(tmp_path / "data"))
    profile = Profile(name="tiny_report", rows=(), student_iters=2, teacher_iters=2, overrides=tuple(TINY_DATA),
                      threads=1, distill_overrides=("model.min_input_size=96",),
                      report_splits=("d2kd_shapes_tiny_test",))
    teacher, _, _, fitnet = _tiny_profile_rows()
    tasks = plan_tasks(profile, [teacher, fitnet], str(tmp_path / "work"))
    assert [t.name for t in tasks] == ["teacher_strong/seed0", "fitnet/seed0"]
    assert [name for name, _ in tasks[1].evaluations] == ["d2kd_shapes_tiny_test"]
    store = RecordStore(str(tmp_path / "records"))
    lines = []
    summary = run_tasks(tasks, jobs=1, threads=1, log=lines.append, store=store, profile="tiny_report")
    assert summary.finished == ["teacher_strong/seed0", "fitnet/seed0"]
    assert sum("evaluating its final weights on d2kd_shapes_tiny_test" in line for line in lines) == 2
    for task in tasks:
        record = store.matching(task.name, task.key)
        val, test = record["splits"]["d2kd_shapes_tiny_val"], record["splits"]["d2kd_shapes_tiny_test"]
        assert val == record["metrics"] and "report_splits" not in record
        assert set(test) == set(val) and "bbox/AP" in test
        evaluation = json.loads((tmp_path / "work" / task.output_dir / "eval_d2kd_shapes_tiny_test" /
                                 "results.json").read_text())
        assert evaluation["init_checkpoint"] == os.path.join(task.output_dir, "model_final.pth")
        # the evaluation is of the run's final weights, not a training: no resume, no iterations
        assert record["resumed_at"] == [] and record["iterations"] == 2
    # the evaluation's loader and evaluator read the test split, not val
    from omegaconf import OmegaConf

    saved = OmegaConf.load(tmp_path / "work" / tasks[1].output_dir / "eval_d2kd_shapes_tiny_test" / "config.yaml")
    assert saved.dataloader.test.dataset.names == saved.dataloader.evaluator.dataset_name == "d2kd_shapes_tiny_test"


def test_a_stopped_seed_paired_run_is_trained_again_from_its_start_a_teacher_resumes(tmp_path):
    from benchmarks.runner import plan_tasks

    profile = Profile(name="tiny_restart", rows=(), student_iters=2, teacher_iters=2, restart_stopped=True)
    teacher, _, student, _ = _tiny_profile_rows()
    tasks = {t.name: t for t in plan_tasks(profile, [teacher, student], str(tmp_path / "work"))}
    assert tasks["student/seed0"].restart_stopped and not tasks["teacher_strong/seed0"].restart_stopped
    assert not any(t.restart_stopped for t in plan_tasks(replace(profile, restart_stopped=False),
                                                        [teacher, student], str(tmp_path / "work")))
    # the scheduler: a stopped run's files (its checkpoints) go before it starts again; a teacher's stay
    stopped, resumed = _task(tmp_path, "stopped"), _task(tmp_path, "resumed")
    stopped = replace(stopped, restart_stopped=True)
    # trained to its end, stopped in its evaluations: its final weights stay (--resume only evaluates)
    evaluating = replace(_task(tmp_path, "evaluating"), restart_stopped=True)
    for task in (stopped, resumed, evaluating):
        os.makedirs(task.output_dir)
        _checkpoint(os.path.join(task.output_dir, "model_0000099.pth"), torch.zeros(2, 3), iteration=99)
    open(evaluating.artifact, "w").close()
    lines = []
    run_tasks([stopped, resumed, evaluating], jobs=1, log=lines.append)
    assert not os.path.exists(os.path.join(stopped.output_dir, "model_0000099.pth"))
    assert os.path.exists(os.path.join(resumed.output_dir, "model_0000099.pth"))
    assert os.path.exists(evaluating.artifact)
    assert sum("trained again from its start" in line for line in lines) == 1
