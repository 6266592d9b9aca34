"""The converged benchmark (benchmarks/plan.py, CONVERGED_*): its plan, and its report on the
held-out test split beside val, by hand."""
from dataclasses import replace

from benchmarks import plan
from benchmarks.plan import CONVERGED_N, CONVERGED_SAME_COMPUTE, PROFILES, row_by_name
from benchmarks.report import collect, method_of, results_document
from benchmarks.runner import plan_tasks
from benchmarks.section import benchmark_markdown
from benchmarks.session import unreported_runs
from test_benchmark_results import _finished
from test_benchmark_sanity import _value

W16 = ["model.student.backbone.bottom_up.stages.base_width=16", "model.student.backbone.out_channels=32"]


def _converged_tasks(tmp_path, monkeypatch, methods=("fitnet", "mkd", "dfmsd")):
    """The converged profile's tasks with some method rows, as if their weights were measured
    (factor 2 for every method)."""
    profile = PROFILES["converged"]
    rows = [row_by_name(n) for n in profile.rows]
    for name in methods:
        monkeypatch.setitem(plan.CONVERGED_METHODS, name, plan.CONVERGED_METHODS[name][:5] + (2.0,)
                            + plan.CONVERGED_METHODS[name][6:])
        rows.append(plan._converged_method_row(name))
    return profile, {t.name: t for t in plan_tasks(profile, rows, str(tmp_path))}


def test_converged_plan_students_from_scratch_teachers_and_test_split(tmp_path, monkeypatch):
    profile, tasks = _converged_tasks(tmp_path, monkeypatch)
    teacher, weak = tasks[f"conv_teacher_r18w64_{CONVERGED_N}/seed0"], tasks[f"conv_teacher_weak_{CONVERGED_N}/seed0"]
    plain_seeds = [n for n in tasks if n.startswith(f"conv_student_{CONVERGED_N}/")]
    same_compute = [n for n in tasks if n.startswith(f"conv_student_{CONVERGED_SAME_COMPUTE * CONVERGED_N}/")]
    assert len(plain_seeds) == len(same_compute) == 3
    assert _value(tasks[same_compute[0]], "train.max_iter") == str(CONVERGED_SAME_COMPUTE * CONVERGED_N)
    for name, task in tasks.items():
        if task.row is None:  # the box cache, made with the weak teacher
            assert task.needs == (weak.name,)
            continue
        # every run from scratch; its final weights evaluated on the test split after training
        assert not any(c.startswith("train.init_checkpoint") for c in task.command), name
        assert [split for split, _ in task.evaluations] == ["d2kd_shapes_bench_test"], name
        (command,) = [c for _, c in task.evaluations]
        assert "--eval-only" in command and f"train.init_checkpoint={task.output_dir}/model_final.pth" in command
        distilled = task.row.role in ("distill", "baseline")
        assert all(o in task.overrides for o in W16) == distilled, name
    assert [n.split("/")[1] for n in tasks if n.startswith("conv_mkd/")] == ["seed0", "seed1", "seed2"]
    assert [n for n in tasks if n.startswith("conv_fitnet/")] == ["conv_fitnet/seed0"]  # a baseline: seed 0
    sal = tasks["conv_dfmsd/seed0"]
    assert _value(sal, "stages.0.model.teachers.weights") == f"{weak.output_dir}/model_final.pth"
    assert _value(sal, "model.teachers.weights") == f"{teacher.output_dir}/model_final.pth"
    assert _value(sal, "train.max_iter") == str(CONVERGED_N // 2)  # each of the 2 stages
    assert _value(tasks["conv_mkd/seed1"], "model.distill_losses.0.weight") == f"{1.1e-4 * 2.0:.4g}"
    assert profile.strongest_baselines == 2
    # a run stopped by a session's end resumes: the same batches and random draws (exact resume)
    assert not any(t.restart_stopped for t in tasks.values())


def test_converged_rows_share_the_probes_runs(tmp_path):
    """The probes' plain student at N and teacher are the converged profile's rows (same key):
    their runs and records serve both."""
    probes = {t.name: t for t in plan_tasks(PROFILES["converged_probes"],
                                            [row_by_name(n) for n in PROFILES["converged_probes"].rows],
                                            str(tmp_path))}
    converged = PROFILES["converged"]
    tasks = {t.name: t for t in plan_tasks(converged, [row_by_name(n) for n in converged.rows], str(tmp_path))}
    for name in (f"conv_student_{CONVERGED_N}/seed0", f"conv_teacher_r18w64_{CONVERGED_N}/seed0"):
        assert probes[name].key == tasks[name].key and probes[name].evaluations == tasks[name].evaluations


def _with_splits(task, val_ap, test_ap):
    task.result["finished"] = "2026-12-07 11:00 UTC"
    task.result["splits"] = {"d2kd_shapes_bench_val": dict(task.result["metrics"]),
                             "d2kd_shapes_bench_test": {k: test_ap for k in task.result["metrics"]}}
    return task


def test_report_split_tables_and_document_by_hand(tmp_path):
    profile = PROFILES["converged"]
    student = row_by_name(f"conv_student_{CONVERGED_N}")
    mkd = replace(plan.CONVERGED_ROWS[2], name="conv_mkd", label="MKD", role="distill",
                  config="projects/MKD/configs/Shapes/mkd_R18w64_to_R18_faster_rcnn.py")
    tasks = [_with_splits(_finished(student, s, ap), ap, test) for s, ap, test in [(0, 10.0, 9.0), (1, 11.0, 9.5)]]
    tasks += [_with_splits(_finished(mkd, s, ap), ap, test) for s, ap, test in [(0, 10.5, 10.0), (1, 11.2, 9.0)]]
    rows = [student, mkd]
    val, test = collect(tasks, rows), collect(tasks, rows, split="d2kd_shapes_bench_test")
    assert test["conv_mkd"].values("AP") == [10.0, 9.0] and val["conv_mkd"].values("AP") == [10.5, 11.2]
    text = benchmark_markdown(profile, tasks, val, [], [], "cmd", str(tmp_path / "RESULTS.md"), reported=test)
    on_val = text.index("on val (chooses)")
    on_test = text.index("on the held-out split d2kd_shapes_bench_test (reports only)")
    assert on_val < on_test
    # test: MKD 9.50 +- 0.71 against the plain 9.25, per seed +1.00, -0.50
    assert "| MKD | 9.50 ± 0.71 |" in text[on_test:] and "+1.00, -0.50" in text[on_test:]
    assert "| MKD | 10.85 ± 0.49 |" in text[on_val:on_test] and "+0.50, +0.20" in text[on_val:on_test]
    document = results_document(profile, test, "cmd", "today", "here", split="test", chosen_on=val)
    (entry,) = [r for r in document["rows"] if r["name"] == "conv_mkd"]
    assert document["split"] == "test" and entry["method"] == "mkd"
    assert method_of(row_by_name(f"conv_student_{CONVERGED_SAME_COMPUTE * CONVERGED_N}")) == "plain_same_compute"
    assert method_of(student) == "plain"
    assert entry["seeds"] == {"0": 10.0, "1": 9.0} and entry["val_seeds"] == {"0": 10.5, "1": 11.2}
    assert collect(tasks[:1] + [_finished(mkd, 0, 3.0)], rows, split="d2kd_shapes_bench_test").keys() == {
        f"conv_student_{CONVERGED_N}"}  # a run without the report split is left out of its tables
    # ... and named: in the log of the benchmark and in its section
    old_run = _finished(mkd, 2, 3.0)
    old_run.result["finished"] = "2026-12-06 11:00 UTC"
    assert unreported_runs(tasks + [old_run], profile) == ["conv_mkd/seed2"]
    text = benchmark_markdown(profile, tasks + [old_run], val, [], [], "cmd", str(tmp_path / "RESULTS.md"),
                              reported=test, unreported=["conv_mkd/seed2"])
    assert "**Not in the d2kd_shapes_bench_test tables** (finished before the profile evaluated that " \
           "split; delete a run's record and folder to train it again): conv_mkd/seed2." in text


def test_converged_ablations_keep_their_full_rows_weights_and_share_their_runs(tmp_path):
    """The ablation profile (fixed before its runs): each MKD ablation has MKD's converged weight and
    one term off; each DFMSD table-11 row the weight of the full row it comes from (two-stage with SAL,
    one-stage without); the headline rows are the converged profile's runs (same keys); the Mask R-CNN
    students, plain and MKD, are the converged width on the Mask R-CNN config, from scratch, 3 seeds."""
    ablations = PROFILES["converged_ablations"]
    tasks = {t.name: t for t in plan_tasks(ablations, [row_by_name(n) for n in ablations.rows], str(tmp_path))}
    converged = PROFILES["converged"]
    headline = {t.name: t for t in plan_tasks(converged, [row_by_name(n) for n in converged.rows], str(tmp_path))}
    for name in ("conv_mkd/seed0", "conv_dfmsd/seed0", f"conv_student_{CONVERGED_N}/seed1"):
        assert tasks[name].key == headline[name].key, name
    mkd_weight = _value(headline["conv_mkd/seed0"], "model.distill_losses.0.weight")
    for term in ("multiscale", "fdmd", "fad"):
        task = tasks[f"conv_mkd_no_{term}/seed0"]
        assert _value(task, "model.distill_losses.0.weight") == mkd_weight
        assert _value(task, f"model.distill_losses.0.use_{term}") == "False"
        assert f"conv_mkd_no_{term}/seed1" not in tasks  # seed 0 only
    weights = {name: _value(headline[f"{name}/seed0"], "model.distill_losses.0.weight")
               for name in ("conv_dfmsd", "conv_dfmsd_onestage")}
    assert weights["conv_dfmsd"] != weights["conv_dfmsd_onestage"]
    for parts, full in [("sal", "conv_dfmsd"), ("sal_me", "conv_dfmsd"), ("sal_sfa", "conv_dfmsd"),
                        ("me", "conv_dfmsd_onestage"), ("sfa", "conv_dfmsd_onestage")]:
        task = tasks[f"conv_dfmsd_{parts}/seed0"]
        assert _value(task, "model.distill_losses.0.weight") == weights[full], parts
        assert task.row.versus == f"conv_student_{CONVERGED_N}"
        assert _value(task, "train.max_iter") == str(CONVERGED_N // task.row.stages), parts
    mask = [t for n, t in tasks.items() if n.startswith("conv_mask_student/")]
    assert len(mask) == 3
    assert _value(mask[0], "model.backbone.bottom_up.stages.base_width") == "16"
    assert _value(mask[0], "model.backbone.out_channels") == "32"
    assert not any(c.startswith("train.init_checkpoint") for c in mask[0].command)
    mask_mkd = [t for n, t in tasks.items() if n.startswith("conv_mask_mkd/")]
    assert len(mask_mkd) == 3 and mask_mkd[0].row.segm
    assert _value(mask_mkd[0], "model.distill_losses.0.weight") == f"{1.7e-4 * 8.04:.4g}"  # mkd_mask.txt
    assert _value(mask_mkd[0], "model.student.backbone.bottom_up.stages.base_width") == "16"
    assert not any(n.startswith(("conv_fitnet", "conv_pkd")) for n in tasks)  # the baselines stay in converged
