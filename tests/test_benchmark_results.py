"""The results benchmark (tools/benchmark.py, benchmarks): report arithmetic by hand,
cache keys, and one run of every row type on the tiny scale through the real tools."""
import calendar
import json
import os
import re
import statistics
import time
from dataclasses import replace

import pytest
import torch
from tool_runs import ROOT, TINY_DATA

from benchmarks import session
from benchmarks.costs import _latencies_ms
from benchmarks.plan import (DISTILL_ROLES, PROFILES, ROWS, Profile, Row, row_by_name, rows_for,
                                 with_overrides)
from benchmarks.report import RowResult, collect, gap_closed, main_table, targets
from benchmarks.runner import BenchmarkError, Task, _utc_stamp, config_digest, finished_at, plan_tasks
from benchmarks.targets import protocol_targets, verdict_lines


def _finished(row, seed, ap, **metrics):
    task = Task(f"{row.name}/seed{seed}", row, seed, "k", "/nonexistent", [])
    values = {m: ap for m in ("AP", "AP50", "AP75", "APs", "APm", "APl")}
    values.update(metrics)
    task.result = {"metrics": {f"bbox/{k}": v for k, v in values.items()},
                   "s_per_iter": 0.5, "wall_s": 1.0, "command": "x"}
    return task


STUDENT = Row("student", "Plain", "main", "c.py", role="student", headline=True)
TEACHER = Row("teacher_strong", "T", "main", "t.py", role="teacher")
MKD = Row("mkd", "MKD", "main", "m.py", headline=True)


def test_gap_closed_and_mean_std_cells_by_hand():
    assert gap_closed(22.0, 20.0, 30.0) == pytest.approx(0.2)
    assert gap_closed(22.0, 20.0, 19.0) is None  # no gap to close
    assert gap_closed(20.5, 20.0, 20.9) is None  # a gap under 1 AP is noise
    result = RowResult(MKD, [_finished(MKD, s, ap) for s, ap in [(0, 21.0), (1, 23.0), (2, 22.0)]])
    assert result.mean() == pytest.approx(22.0)
    assert result.cell("AP") == f"22.00 ± {statistics.stdev([21.0, 23.0, 22.0]):.2f}" == "22.00 ± 1.00"


def test_targets_pair_seeds_and_need_every_seed_better():
    tasks = [_finished(STUDENT, s, ap) for s, ap in [(0, 20.0), (1, 21.0), (2, 20.5)]]
    tasks += [_finished(MKD, s, ap) for s, ap in [(0, 22.0), (1, 20.9), (2, 23.0)]]  # seed 1 worse
    results = collect(tasks, [STUDENT, MKD])
    ((label, met, detail),) = targets(results, methods=["mkd"])
    # mean gain (22 + 20.9 + 23)/3 - (20 + 21 + 20.5)/3 = 1.4667 >= 1.0, but seed 1 is -0.1
    assert label == "MKD" and not met
    assert "+1.47" in detail and "seed 1: -0.10" in detail
    tasks[4].result["metrics"]["bbox/AP"] = 21.5
    ((_, met, _),) = targets(collect(tasks, [STUDENT, MKD]), methods=["mkd"])
    assert met


def test_strongest_baseline_is_chosen_by_the_first_seed():
    cwd = Row("cwd", "CWD", "main", "c.py", role="baseline")
    mgd = Row("mgd", "MGD", "main", "g.py", role="baseline", all_seeds=True)
    # MGD's mean over 3 seeds (21.0) beats CWD's one seed (20.5), its seed 0 (20.0) does not
    tasks = [_finished(cwd, 0, 20.5)] + [_finished(mgd, s, ap) for s, ap in [(0, 20.0), (1, 22.0), (2, 21.0)]]
    results = collect(tasks, [STUDENT, cwd, mgd])
    assert results["mgd"].mean() == pytest.approx(21.0)
    assert [r.row.name for r in session._strongest_baselines(results)] == ["cwd"]
    assert session._strongest_baselines(collect(tasks[:1], [STUDENT])) == []
    fgd = Row("fgd", "FGD", "main", "f.py", role="baseline")
    results = collect(tasks + [_finished(fgd, 0, 20.2)], [STUDENT, cwd, mgd, fgd])
    assert [r.row.name for r in session._strongest_baselines(results, 2)] == ["cwd", "fgd"]


def test_finished_at_reads_the_record_else_the_logs_else_the_results_last_write(tmp_path):
    task = Task("mkd/seed0", MKD, 0, "k", str(tmp_path), [])
    task.result = {"finished": "2026-12-02 06:30 UTC"}
    assert finished_at(task) == "2026-12-02 06:30 UTC"
    # a run from before the record: its log's last write, else its result file's
    (tmp_path / "result.json").write_text("{}")
    for name, day in [("result.json", 21), ("benchmark.log", 20)]:
        stamp = calendar.timegm((2026, 11, day, 14, 5, 0))
        (tmp_path / name).touch()
        os.utime(tmp_path / name, (stamp, stamp))
    task.result = {}
    assert finished_at(task) == "2026-11-20 14:05 UTC"
    os.remove(tmp_path / "benchmark.log")
    assert finished_at(task) == "2026-11-21 14:05 UTC"


def test_latencies_run_the_models_in_turn_and_give_median_and_quartiles():
    calls = []

    class Sleeper(torch.nn.Module):
        def __init__(self, name, seconds):
            super().__init__()
            self.name, self.seconds = name, seconds

        def forward(self, batch):
            assert not self.training and not torch.is_grad_enabled() and batch[0]["image"].shape == (3, 8, 8)
            calls.append(self.name)
            time.sleep(self.seconds)

    image = torch.zeros(3, 8, 8)
    out = _latencies_ms({"a": Sleeper("a", 0.002), "b": Sleeper("b", 0.006)}, image, rounds=5)
    assert calls == ["a", "b"] * 6  # one warm-up call each, then 5 rounds in turn
    for name, seconds in [("a", 0.002), ("b", 0.006)]:
        median, q1, q3 = out[name]
        assert 1000 * seconds <= q1 <= median <= q3
    assert out["a"][0] < out["b"][0]


def test_main_table_columns():
    tasks = [_finished(TEACHER, 0, 30.0), _finished(STUDENT, 0, 20.0), _finished(MKD, 0, 25.0, AP50=40.0)]
    table = main_table(collect(tasks, [TEACHER, STUDENT, MKD]), "main")
    mkd_line = [line for line in table.splitlines() if line.startswith("| MKD")][0]
    cells = [c.strip() for c in mkd_line.strip("|").split("|")]
    assert cells[1:3] == ["25.00", "40.00"] and cells[7:10] == ["+5.00", "50%", "1"]


def test_result_tables_show_the_profiles_own_table_on_val_then_on_the_report_split():
    """What the tool prints after a run (and the section holds): the demo's rows sit in the
    table "quick", not "main" (the demo once printed an empty "main" table)."""
    from benchmarks.section import result_tables

    rows = [replace(r, table="quick") for r in (TEACHER, STUDENT, MKD)]
    tasks = [_finished(r, 0, ap) for r, ap in zip(rows, (30.0, 20.0, 25.0))]
    for task, ap in zip(tasks, (28.0, 19.0, 21.0)):
        task.result["splits"] = {"held_test": {f"bbox/{m}": ap for m in ("AP", "AP50", "AP75", "APs", "APm", "APl")}}
    text = "\n".join(result_tables(collect(tasks, rows), collect(tasks, rows, split="held_test"), "held_test"))
    titles = [line for line in text.splitlines() if line.startswith("### ")]
    assert titles == ["### The demo: the converged protocol in small (R18w16 student from scratch, N and 2N; "
                      "one seed) on val (chooses)",
                      "### The demo: the converged protocol in small (R18w16 student from scratch, N and 2N; "
                      "one seed) on the held-out split held_test (reports only)"]
    mkd_lines = [line for line in text.splitlines() if line.startswith("| MKD")]
    assert [line.split("|")[2].strip() for line in mkd_lines] == ["25.00", "21.00"]
    assert [line.split("|")[8].strip() for line in mkd_lines] == ["+5.00", "+2.00"]


def test_ap_figure_of_a_profile_with_its_own_table(tmp_path):
    """A profile whose rows sit in a table of their own (the demo's "quick") draws its AP figure
    over those rows (it once drew only the table "main", so the demo had no figure)."""
    from benchmarks.figures import _draw_figures

    rows = [replace(r, table="quick") for r in (TEACHER, STUDENT, MKD)]
    tasks = [_finished(r, 0, ap) for r, ap in zip(rows, (30.0, 20.0, 25.0))]
    profile = Profile(name="demo", rows=tuple(r.name for r in rows), student_iters=1, teacher_iters=1,
                      table="quick")
    figures = _draw_figures(profile, tasks, collect(tasks, rows), str(tmp_path))
    assert figures == [("AP per method", str(tmp_path / "demo_ap.png"))]
    assert (tmp_path / "demo_ap.png").stat().st_size > 1000


def test_config_digest_follows_relative_imports(tmp_path, monkeypatch):
    from benchmarks import runner

    monkeypatch.setattr(runner, "ROOT", str(tmp_path))
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "piece.py").write_text("x = 1\n")
    (tmp_path / "leaf.py").write_text("from .common.piece import x\n")
    before = config_digest(str(tmp_path / "leaf.py"))
    assert config_digest(str(tmp_path / "leaf.py")) == before
    (tmp_path / "common" / "piece.py").write_text("x = 2\n")
    assert config_digest(str(tmp_path / "leaf.py")) != before


def test_config_digest_follows_shared_configs_loaded_by_name(tmp_path, monkeypatch):
    from benchmarks import runner
    from d2kd.config import zoo

    monkeypatch.setattr(runner, "ROOT", str(tmp_path))
    monkeypatch.setattr(zoo, "CONFIGS_ROOT", str(tmp_path / "configs"))
    (tmp_path / "configs" / "common").mkdir(parents=True)
    (tmp_path / "configs" / "common" / "piece.py").write_text("x = 1\n")
    (tmp_path / "leaf.py").write_text('from d2kd.config import zoo\nx = zoo.get_config("common/piece.py").x\n')
    before = config_digest(str(tmp_path / "leaf.py"))
    (tmp_path / "configs" / "common" / "piece.py").write_text("x = 2\n")
    assert config_digest(str(tmp_path / "leaf.py")) != before


def test_config_digest_ignores_docstrings_and_comments_only(tmp_path, monkeypatch):
    from benchmarks import runner

    monkeypatch.setattr(runner, "ROOT", str(tmp_path))
    leaf = tmp_path / "leaf.py"
    leaf.write_text('"""A config."""\nx = 1  # one\n')
    before = config_digest(str(leaf))
    leaf.write_text('"""A config, with a better docstring."""\n# a comment\nx = 1  # still one\n')
    assert config_digest(str(leaf)) == before
    leaf.write_text('"""A config."""\nx = 1\ny = "a string that is not a docstring"\n')
    assert config_digest(str(leaf)) != before
    leaf.write_text('x = 1\n')
    assert config_digest(str(leaf)) == before
    leaf.write_text('x = 2\n')
    assert config_digest(str(leaf)) != before


def test_rows_option_runs_part_of_a_profile_with_its_teachers():
    full = PROFILES["full"]
    part = [r.name for r in rows_for(full, ["mkd", "student"])]
    assert part == ["teacher_weak", "teacher_strong", "student_init", "student", "mkd"]
    assert [r.name for r in rows_for(full, [])] == list(full.rows)
    with pytest.raises(KeyError, match="not rows of profile 'quick'.*--extra-rows"):
        rows_for(PROFILES["quick"], ["cwd"])


def _first_stage_mapper(task):
    """The train mapper of the first SAL stage of ``task``'s config with its overrides, resolved."""
    from d2kd.config import apply_overrides_strictly, load_config
    from d2kd.config.stages import stage_config

    cfg = apply_overrides_strictly(load_config(os.path.join(ROOT, task.row.config)), task.overrides)
    return stage_config(cfg, 0).dataloader.train.mapper


def test_plan_maps_default_teacher_checkpoints_to_teacher_rows(tmp_path):
    full = PROFILES["full"]
    size = "dataloader.train.mapper.augmentations.0.short_edge_length=[100,112]"
    quick = profile = Profile(**{**full.__dict__, "overrides": (size,), "student_iters": 300,
                                 "teacher_iters": 600, "init_iters": 200})
    tasks = {t.name: t for t in plan_tasks(profile, [row_by_name(n) for n in
                                                     ("teacher_weak", "teacher_strong", "student_init",
                                                      "student", "mkd", "dfmsd")], str(tmp_path))}
    strong = tasks["teacher_strong/seed0"].output_dir
    weak = tasks["teacher_weak/seed0"].output_dir
    assert f"model.teachers.weights={strong}/model_final.pth" in tasks["mkd/seed0"].command
    dfmsd = tasks["dfmsd/seed0"]
    assert f"stages.0.model.teachers.weights={weak}/model_final.pth" in dfmsd.command
    assert set(dfmsd.needs) == {"student_init/seed0", "teacher_weak/seed0", "teacher_strong/seed0", "box_cache"}
    assert f"train.max_iter={quick.student_iters // 2}" in dfmsd.command  # split over two SAL stages
    assert f"train.max_iter={quick.student_iters}" in tasks["mkd/seed0"].command
    assert f"train.max_iter={quick.teacher_iters}" in tasks["teacher_strong/seed0"].command
    # every student row, plain and distilled, starts from the warm-up row's final weights
    init = tasks["student_init/seed0"]
    assert f"train.max_iter={quick.init_iters}" in init.command and init.needs == ()
    for name in ("student/seed0", "mkd/seed0", "dfmsd/seed0"):
        assert f"train.init_checkpoint={init.output_dir}/model_final.pth" in tasks[name].command, name
        assert "student_init/seed0" in tasks[name].needs
    for name in ("teacher_weak/seed0", "teacher_strong/seed0", "student_init/seed0", "box_cache"):
        assert not any(c.startswith("train.init_checkpoint") for c in tasks[name].command), name
    # a profile's input size is given once: the first SAL stage takes the run's one mapper
    assert size in dfmsd.command and not any(c.startswith("stages.0.dataloader") for c in dfmsd.command)
    assert list(_first_stage_mapper(dfmsd).augmentations[0].short_edge_length) == [100, 112]
    assert _first_stage_mapper(dfmsd).enhance is False
    assert size in tasks["box_cache"].command
    # the plan is stable: same keys for the same inputs, a new key for another schedule
    again = plan_tasks(profile, [row_by_name(n) for n in ("teacher_weak", "teacher_strong", "student_init",
                                                          "student", "mkd", "dfmsd")], str(tmp_path))
    assert [t.key for t in again] == [t.key for t in tasks.values()]
    longer = Profile(**{**profile.__dict__, "student_iters": 2 * quick.student_iters})
    needed = [row_by_name("teacher_strong"), row_by_name("student_init"), row_by_name("mkd")]
    assert plan_tasks(longer, needed, str(tmp_path))[2].key != tasks["mkd/seed0"].key
    # a new warm-up schedule is a new start for every student row
    longer_init = Profile(**{**profile.__dict__, "init_iters": 2 * quick.init_iters})
    assert plan_tasks(longer_init, needed, str(tmp_path))[2].key != tasks["mkd/seed0"].key
    with pytest.raises(BenchmarkError, match="starts its students from row 'student_init'"):
        plan_tasks(profile, [row_by_name("teacher_strong"), row_by_name("mkd")], str(tmp_path))
    from_scratch = Profile(**{**profile.__dict__, "student_init": "", "init_iters": 0})
    with pytest.raises(BenchmarkError, match="no teacher row"):
        plan_tasks(from_scratch, [row_by_name("mkd")], str(tmp_path))
    assert not any(c.startswith("train.init_checkpoint")
                   for c in plan_tasks(from_scratch, needed[:1] + needed[2:], str(tmp_path))[1].command)


def test_quick_profile_is_the_converged_protocol_at_the_demo_scale(tmp_path):
    """`make demo` runs the converged protocol in small: its teachers and student from scratch,
    the plain student at N and 2N, MKD and DFMSD at the converged rows' weights, one seed, the
    held-out test split evaluated after val; every run at the demo's image size and schedule, in
    folders of its own (it never overwrites a converged run)."""
    from benchmarks.plan import (CONVERGED_DISTILLED_STUDENT, CONVERGED_STUDENT, CONVERGED_TEACHER,
                                 CONVERGED_TEST, CONVERGED_WEAK_TEACHER, QUICK_DISTILL, QUICK_IMAGE_SIZE)
    from benchmarks.runner import _load
    from d2kd.config import check_min_input_size

    quick, converged = PROFILES["quick"], PROFILES["converged"]
    rows = {r.name: r for r in rows_for(quick)}
    assert {n for n, r in rows.items() if r.headline} == {"demo_student", "conv_mkd", "conv_dfmsd"}
    assert [rows[n].config for n in ("demo_teacher_weak", "demo_teacher", "demo_student", "demo_student_2n")] == [
        CONVERGED_WEAK_TEACHER, CONVERGED_TEACHER, CONVERGED_STUDENT, CONVERGED_STUDENT]
    assert all(r.table == "quick" for r in rows.values())
    assert quick.headline_seeds == (0,) and quick.report_splits == CONVERGED_TEST == converged.report_splits
    assert converged.judge_targets and not quick.judge_targets  # one seed: no verdict in the demo's section
    assert quick.student_iters < converged.student_iters and quick.teacher_iters < converged.teacher_iters
    tasks = {t.name: t for t in plan_tasks(quick, list(rows.values()), str(tmp_path))}
    assert len(tasks) == 7  # six rows and the box cache
    n = quick.student_iters
    assert f"train.max_iter={n}" in tasks["demo_student/seed0"].command
    assert f"train.max_iter={2 * n}" in tasks["demo_student_2n/seed0"].command
    assert f"train.max_iter={n}" in tasks["conv_mkd/seed0"].command
    assert f"train.max_iter={n // 2}" in tasks["conv_dfmsd/seed0"].command  # split over two SAL stages
    assert f"train.max_iter={quick.teacher_iters}" in tasks["demo_teacher/seed0"].command
    converged_tasks = {t.name: t for t in plan_tasks(converged, rows_for(converged), str(tmp_path))}
    for name in ("conv_mkd/seed0", "conv_dfmsd/seed0"):
        # the converged row's weight and student, its folder not the converged run's
        weight = next(o for o in converged_tasks[name].command if o.startswith("model.distill_losses.0.weight="))
        assert weight in tasks[name].command
        assert all(o in tasks[name].command for o in CONVERGED_DISTILLED_STUDENT)
        assert tasks[name].output_dir != converged_tasks[name].output_dir
    for task in tasks.values():
        assert not any(c.startswith("train.init_checkpoint") for c in task.command), task.name  # from scratch
        for size in QUICK_IMAGE_SIZE:
            assert size in task.command, (task.name, size)
        if task.iterations:  # every trained row evaluates the test split after its own (val)
            assert [d for d, _ in task.evaluations] == list(CONVERGED_TEST), task.name
    # min_input_size reaches exactly the distillers (and DFMSD's box cache), and fits the images
    for task in tasks.values():
        distills = task.name.split("/")[0] in ("conv_mkd", "conv_dfmsd", "box_cache")
        assert all((o in task.command) == distills for o in QUICK_DISTILL), task.name
    for name in ("conv_mkd", "conv_dfmsd", "conv_mgd", "conv_dfmsd_onestage"):  # its rows, README extra rows
        row = row_by_name(name)
        check_min_input_size(_load(row.config, [*quick.overrides_of(row), *row.overrides]))
    with_extra = rows_for(quick, extra=["conv_mgd", "conv_dfmsd_onestage", "conv_mkd"])  # as --extra-rows
    assert [r.name for r in with_extra] == [*rows, "conv_mgd", "conv_dfmsd_onestage"]
    assert all(r.table == "quick" for r in with_extra)  # in the demo's table, measured against its student
    extra = plan_tasks(quick, with_extra, str(tmp_path))
    assert {t.name for t in extra} - set(tasks) == {"conv_mgd/seed0", "conv_dfmsd_onestage/seed0"}
    assert [r.name for r in rows_for(quick, ["conv_mkd"], extra=["conv_mgd"])] == [
        "demo_teacher_weak", "demo_teacher", "conv_mkd", "conv_mgd"]
    # the full profile has no distill_overrides: its keys (docs/RESULTS.md's runs) do not move
    full = PROFILES["full"]
    assert all(full.overrides_of(r) == full.overrides == () for r in ROWS)


def test_run_tasks_starts_the_longest_chain_first_then_the_run_with_more_inputs(tmp_path):
    """One job at a time: the teacher first (its box cache waits on it, and a distilled run
    on that), the box cache before the warm-up (more inputs, same chain), the distilled
    run before the plain student (more inputs)."""
    import sys

    from benchmarks.runner import run_tasks

    def task(name, needs=()):
        return Task(name, None, 0, name, str(tmp_path / name), [sys.executable, "-c", "pass"], tuple(needs))

    plan = [task("init"), task("student", ["init"]), task("distill", ["init", "teacher", "cache"]),
            task("cache", ["teacher"]), task("teacher")]  # (any order: a run waits for its needs)
    lines = []
    run_tasks(plan, jobs=1, log=lines.append)
    started = [re.search(r"\) (\w+): started", line).group(1) for line in lines if ": started" in line]
    assert started == ["teacher", "cache", "init", "distill", "student"]
    assert all(t.is_done() for t in plan)


def test_mkd_ablation_rows_switch_one_term_off():
    for term in ("multiscale", "fdmd", "fad"):
        row = row_by_name(f"mkd_no_{term}")
        assert row.config == row_by_name("mkd").config
        assert row.overrides == (f"model.distill_losses.0.use_{term}=False",)


def test_mkd_weighting_rows_set_existing_weights_of_the_mkd_config():
    from benchmarks.runner import _load

    expected = {"mkd_alpha_warm": {"weight": 3.8e-5},
                "mkd_balanced": {"fea_weight": 0.29, "multiscale_weight": 0.099, "fdmd_weight": 0.32,
                                 "fad_weight": 8.4}}
    default = _load(row_by_name("mkd").config, []).model.distill_losses[0]
    for name, values in expected.items():
        row = row_by_name(name)
        assert row.config == row_by_name("mkd").config and row.table == "mkd_ablation"
        loss = _load(row.config, row.overrides).model.distill_losses[0]  # strict: a wrong key raises
        for key in ("weight", "fea_weight", "multiscale_weight", "fdmd_weight", "fad_weight"):
            assert loss[key] == values.get(key, default[key]), (name, key)


def test_all_seeds_rows_run_with_the_headline_seeds_without_being_headline_rows():
    full = PROFILES["full"]
    for name in ("mkd_alpha_warm", "mkd_no_fdmd", "mgd", "dfmsd_onestage", "mask_student", "mask_mkd"):
        row = row_by_name(name)
        assert not row.headline and full.seeds(row) == (0, 1, 2)
    for name in ("mkd_balanced", "mkd_no_fad", "fgd", "dfmsd_sal"):
        assert full.seeds(row_by_name(name)) == (0,)
    tasks = plan_tasks(full, [row_by_name(n) for n in ("teacher_weak", "teacher_strong", "student_init",
                                                         "mkd_alpha_warm")], "/tmp/unused")
    assert [t.name for t in tasks if t.row.name == "mkd_alpha_warm"] == [
        "mkd_alpha_warm/seed0", "mkd_alpha_warm/seed1", "mkd_alpha_warm/seed2"]


# ------------------------------------------------- every row type, tiny scale, real tools

_SHRINK = ["backbone.bottom_up.stages.base_width=8"]


def _shrunk(prefix, channels):
    return [f"{prefix}.{_SHRINK[0]}", f"{prefix}.backbone.out_channels={channels}"]


def _tiny_rows():
    by_name = {r.name: r for r in ROWS}
    distill = _shrunk("model.student", 16)  # (model.min_input_size: the profile's distill_overrides)
    mkd = ["model.distill_losses.0.kernels=[1,2]", "model.distill_losses.0.weight=1e-4"]
    extra = {
        "teacher_weak": _shrunk("model", 24),
        "teacher_strong": _shrunk("model", 32),
        "student_init": _shrunk("model", 16),
        "student": _shrunk("model", 16),
        "fitnet": distill + _shrunk("model.teachers.model", 32),
        "mkd": distill + _shrunk("model.teachers.model", 32) + mkd,
        "mkd_no_fad": distill + _shrunk("model.teachers.model", 32) + mkd,
        "dfmsd": distill + _shrunk("model.teachers.model", 32) + _shrunk("stages.0.model.teachers.model", 24),
        "mask_student": _shrunk("model", 16),
        "mask_mkd": distill + _shrunk("model.teachers.model", 32) + mkd,
    }
    # the Mask R-CNN rows run all seeds in the full profile; one seed keeps this test short
    # (test_all_seeds_rows_run_with_the_headline_seeds_without_being_headline_rows covers all_seeds)
    one_seed = {"mask_student", "mask_mkd"}
    return [with_overrides(replace(by_name[n], all_seeds=False) if n in one_seed else by_name[n], o)
            for n, o in extra.items()]


@pytest.fixture(scope="module")
def tiny_benchmark(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("benchmark")
    old = os.environ.get("D2KD_DATASETS")
    os.environ["D2KD_DATASETS"] = str(tmp / "data")
    profile = Profile(
        name="tiny", rows=(), student_iters=2, teacher_iters=2, headline_seeds=(0, 1),
        student_init="student_init", init_iters=1,
        overrides=tuple(TINY_DATA) + ("train.log_period=1",), threads=1, description="test",
        distill_overrides=("model.min_input_size=96",),  # the distillers' check of the 96 px inputs
        note="tiny-scale test",
    )
    results_path = tmp / "docs" / "RESULTS.md"
    results_path.parent.mkdir()
    results_path.write_text("# Results\n\nkept text\n")
    log = []
    rows = _tiny_rows()
    try:
        started = _utc_stamp(time.time())
        tasks, results = session.run_benchmark(profile, rows, str(tmp / "work"), str(results_path), jobs=2,
                                               command="python tools/benchmark.py --test", log=log.append)
        written = _utc_stamp(time.time())
        yield profile, rows, tmp, tasks, results, results_path, log, (started, written)
    finally:
        if old is None:
            del os.environ["D2KD_DATASETS"]
        else:
            os.environ["D2KD_DATASETS"] = old


def test_tiny_benchmark_runs_every_row_type(tiny_benchmark):
    _, rows, _, tasks, results, _, log, _ = tiny_benchmark
    assert set(results) == {r.name for r in rows}
    # headline rows and the strongest (here: only) baseline ran with both seeds
    assert results["student"].seeds == results["mkd"].seeds == results["fitnet"].seeds == [0, 1]
    assert results["teacher_strong"].seeds == results["student_init"].seeds == [0]
    init = os.path.join(results["student_init"].tasks[0].output_dir, "model_final.pth")
    for name in ("student", "fitnet", "mkd", "dfmsd", "mask_mkd"):
        for task in results[name].tasks:
            assert f"train.init_checkpoint={init}" in task.result["command"], name
    for name, r in results.items():
        for task in r.tasks:
            assert os.path.isfile(os.path.join(task.output_dir, "result.json"))
            assert "bbox/AP" in task.result["metrics"], name
    assert "segm/AP" in results["mask_mkd"].tasks[0].result["metrics"]
    assert os.path.isfile(os.path.join(results["dfmsd"].tasks[0].output_dir, "stage2", "model_final.pth"))
    assert any("strongest baseline: FitNet" in line for line in log)


def test_tiny_benchmark_writes_a_well_formed_results_section(tiny_benchmark):
    _, _, tmp, _, results, results_path, _, (started, written) = tiny_benchmark
    text = results_path.read_text()
    assert text.startswith("# Results\n\nkept text") and text.count("<!-- begin benchmark-tiny -->") == 1
    number = r"(?:-?[0-9.]+|nan)(?: ± (?:[0-9.]+|nan))?"
    for label in ["Teacher Faster R-CNN R34", "Student Faster R-CNN R18 (no distillation)", "FitNet", "MKD",
                  "DFMSD (R34 then R18w64)", "MKD without L_FAD"]:
        assert re.search(rf"^\| {re.escape(label)} \|( {number} \|){{6}}", text, re.MULTILINE), label
    assert "### Instance segmentation" in text and "| segm AP |" in text
    exported = re.search(r"\| MKD student, exported \| [0-9.]+ \| [0-9.]+ \| ([0-9.]+) \| ([0-9.]+)-([0-9.]+) \| "
                         r"loads strictly", text)
    median, q1, q3 = map(float, exported.groups())
    assert 0 < q1 <= median <= q3
    # the exported distilled student costs what the plain student costs
    deploy = text[text.index("### Deploy cost"):]
    pattern = r"^\| (Student Faster R-CNN R18 \(no distillation\)|MKD student, exported) \| ([0-9.]+) \| ([0-9.]+) \|"
    costs = {model: (params, flops) for model, params, flops in re.findall(pattern, deploy, re.MULTILINE)}
    assert costs["MKD student, exported"] == costs["Student Faster R-CNN R18 (no distillation)"]
    for png in re.findall(r"\]\((results/[^)]+\.png)\)", text):
        assert (results_path.parent / png).stat().st_size > 1000
    assert "tiny_ap.png" in text and "tiny_losses_mkd.png" in text
    assert "Command: `python tools/benchmark.py --test`" in text
    assert "after a warm-up of 1, teachers 2;" in text
    assert "**Note.** tiny-scale test" in text
    assert "; of the distillation rows also: `model.min_input_size=96`." in text
    for name, r in results.items():  # only distillers have model.min_input_size
        distills = r.row.role in DISTILL_ROLES
        assert ("model.min_input_size=96" in r.tasks[0].result["command"]) == distills, name
    runs = re.findall(r"^\| (student/seed[01]) \| (\d{4}-\d\d-\d\d \d\d:\d\d UTC) \| \d+ \| `", text,
                      re.MULTILINE)
    assert [name for name, _ in runs] == ["student/seed0", "student/seed1"]
    first, last = re.search(r"Finished between (\S+ \S+ UTC) and (\S+ \S+ UTC);", text).groups()
    assert started <= first <= min(d for _, d in runs) <= max(d for _, d in runs) <= last <= written


def test_tiny_benchmark_writes_its_results_json(tiny_benchmark):
    """docs/results/<profile>.json: the per-seed APs the tables are built from."""
    profile, _, _, _, results, results_path, _, _ = tiny_benchmark
    document = json.loads((results_path.parent / "results" / "tiny.json").read_text())
    assert {k: document[k] for k in ("profile", "split", "command")} == {
        "profile": "tiny", "split": "val", "command": "python tools/benchmark.py --test"}
    rows = {r["name"]: r for r in document["rows"]}
    assert set(rows) == set(results)
    methods = {name: r["method"] for name, r in rows.items()}
    assert methods["student"] == "plain" and methods["fitnet"] == "fitnet" and methods["mkd"] == "mkd"
    assert methods["dfmsd"] == "dfmsd" and methods["teacher_strong"] == "teacher"
    student = rows["student"]
    assert student["role"] == "student" and student["iterations"] == profile.student_iters
    assert student["seeds"] == {str(s): ap for s, ap in zip(results["student"].seeds, results["student"].values("AP"))}
    assert student["mean"] == pytest.approx(results["student"].mean())
    assert rows["dfmsd"]["iterations"] == profile.student_iters  # both SAL stages together
    assert set(rows["mask_mkd"]["segm_seeds"]) == {"0"} and "segm_seeds" not in rows["mkd"]


def test_tiny_benchmark_second_run_is_cached(tiny_benchmark):
    profile, rows, tmp, tasks, _, results_path, _, _ = tiny_benchmark
    log = []
    # a profile with one row more than the rows run: the section names it as not run
    larger = replace(profile, rows=tuple(r.name for r in rows) + ("dfmsd_sal",))
    again, _ = session.run_benchmark(larger, rows, str(tmp / "work"), str(results_path), jobs=2, costs=False,
                                     plots=False, command="again", log=log.append)
    assert "**Not run** (`--rows` chose a part of the profile): dfmsd_sal." in results_path.read_text()
    cached = [re.search(r"(\d+) of (\d+) runs cached; (\d+) to run", line) for line in log]
    counts = [m.groups() for m in cached if m]
    assert counts and all(done == total and todo == "0" for done, total, todo in counts)
    assert not any("started" in line for line in log)
    assert {t.name: t.key for t in again} == {t.name: t.key for t in tasks}
    with open(os.path.join(again[0].output_dir, "result.json")) as f:
        assert json.load(f)["key"] == again[0].key


def test_protocol_targets_by_hand():
    """The converged protocol's four targets on a small table of made-up APs (docs/RESULTS.md,
    "Benchmark 'converged': protocol", step 8)."""
    plain = Row("p", "Plain", "t", "c/plain.py", role="student", headline=True)
    same = Row("p2", "Plain at 2N", "t", "c/plain.py", role="student", headline=True, versus="p")
    teacher = Row("tea", "Teacher", "t", "c/teacher.py", role="teacher")
    mkd = Row("m", "MKD, long label", "t", "c/mkd_x.py", headline=True)
    dfmsd = Row("d", "DFMSD (a, b), long label", "t", "c/dfmsd_x.py", headline=True)
    pkd = Row("k", "PKD", "t", "c/pkd_x.py", role="baseline")
    fitnet = Row("f", "FitNet", "t", "c/fitnet_x.py", role="baseline")
    other_table = Row("o", "MKD elsewhere", "u", "c/mkd_y.py", headline=True)
    aps = {plain: [20.0, 22.0, 21.0], same: [30.0, 31.0, 32.0], teacher: [41.0], mkd: [21.5, 23.4, 22.3],
           dfmsd: [27.0, 21.9, 27.0], pkd: [21.5], fitnet: [19.0], other_table: [0.0, 0.0, 0.0]}

    def judged():
        tasks = [_finished(row, seed, ap) for row, values in aps.items() for seed, ap in enumerate(values)]
        return protocol_targets(collect(tasks, list(aps)), "t")

    verdicts = judged()
    assert [v.met for v in verdicts] == [True, False, False, False, False]
    mkd_v, dfmsd_v, baselines_v, same_v, stretch_v = verdicts
    assert mkd_v.target.startswith("MKD: >= +1.0 AP")
    # plain student's seed std over 20, 22, 21: 1.0
    assert mkd_v.detail == "MKD +1.40 (+1.50, +1.40, +1.30; 3 seeds), beyond the plain student's seed std (1.000)"
    # DFMSD: mean +4.30, well over +1.0, but seed 1 is -0.10
    assert dfmsd_v.detail.startswith("DFMSD +4.30 (+7.00, -0.10, +6.00; 3 seeds)")
    # no baseline has 3 seeds yet: each is judged on its seed 0; PKD 21.5 - 20, FitNet 19 - 20
    assert baselines_v.detail == ("judged on every baseline on the seeds it has (fewer than two have all seeds): "
                                  "1 above, 1 of them beyond the plain student's seed std 1.000; every baseline: "
                                  "PKD +1.50 (+1.50; 1 seed); FitNet -1.00 (-1.00; 1 seed)")
    assert same_v.detail.startswith("0 of 2 above: MKD -8.60 (-8.50, -7.60, -9.70; 3 seeds); DFMSD")
    # gap closed: (25.3 - 21) / (41 - 21) = 21.5%
    assert stretch_v.detail == "22% (DFMSD 25.30 over 3 seed(s), plain 21.00, teacher 41.00)"

    aps[same] = [20.0, 20.0, 20.0]
    aps[fitnet] = [21.1]
    assert [v.met for v in judged()] == [True, False, True, True, False]
    # two baselines with all 3 seeds: only they are judged; PKD: (+1.5 - 1 - 1) / 3 < 0, FitNet +1.03
    aps[pkd] = [21.5, 21.0, 20.0]
    aps[fitnet] = [21.1, 23.0, 22.0]
    _, _, baselines_v, same_v, _ = judged()
    assert not baselines_v.met
    assert baselines_v.detail.startswith("judged on the 2 with 3 seeds: 1 above, 1 of them beyond")
    # the same-compute target now counts the 3-seed baselines too (PKD: +1.5, +1, 0 over 20, 20, 20)
    assert same_v.met and same_v.detail.startswith("4 of 4 above")

    lines = verdict_lines(judged(), "test_split")
    assert lines[0] == "### Targets (written before the runs), judged on test_split"
    assert lines[4] == ("- MKD: >= +1.0 AP over the plain student, 3 seeds, every seed better: **met**; MKD +1.40 "
                        "(+1.50, +1.40, +1.30; 3 seeds), beyond the plain student's seed std (1.000).")
    tasks = [_finished(plain, s, ap) for s, ap in enumerate(aps[plain])] + [_finished(pkd, 7, 30.0)]
    (lonely,) = protocol_targets(collect(tasks, [plain, pkd]), "t")  # no seed shared: not above, no crash
    assert not lonely.met and lonely.detail.endswith("PKD: no seed shared with its reference")
    assert protocol_targets(collect(tasks, [mkd, pkd]), "t") == []  # no plain student: no verdict
