"""The sanity profile of tools/benchmark.py (benchmarks/plan.py, SANITY_*): its plan, and
the seed-paired table it is reported in, by hand."""
import pytest

from benchmarks.plan import (PROFILES, SANITY_RATIO_AT_WEIGHT_1, SANITY_RATIOS, SANITY_ROWS, Profile, Row,
                                 row_by_name)
from benchmarks.report import collect, paired_table
from benchmarks.runner import BenchmarkError, plan_tasks
from test_benchmark_results import _finished


def _tasks(tmp_path):
    sanity = PROFILES["sanity"]
    return {t.name: t for t in plan_tasks(sanity, [row_by_name(n) for n in sanity.rows], str(tmp_path))}


def _value(task, key):
    (value,) = [c.split("=", 1)[1] for c in task.command if c.startswith(key + "=")]
    return value


def test_sanity_profile_starts_teacher_a_from_the_warm_up_and_pairs_every_row(tmp_path):
    sanity = PROFILES["sanity"]
    tasks = _tasks(tmp_path)
    init = tasks["sanity_init/seed0"]
    lineage, wide = tasks["sanity_teacher_lineage/seed0"], tasks["sanity_teacher_wide/seed0"]
    assert _value(lineage, "train.init_checkpoint") == f"{init.output_dir}/model_final.pth"
    assert lineage.needs == (init.name,)
    assert not any(c.startswith("train.init_checkpoint") for c in wide.command) and wide.needs == ()
    assert _value(lineage, "train.max_iter") == _value(wide, "train.max_iter") == str(sanity.teacher_iters)
    for name, task in tasks.items():
        row = task.row
        if row.role in ("teacher", "init"):
            continue
        assert task.seed in (0, 1, 2) and _value(task, "train.seed") == str(task.seed)
        if row.own_start:  # distilled from the start: the warm-up's iterations too, no warm-up weights
            assert not any(c.startswith("train.init_checkpoint") for c in task.command), name
            assert _value(task, "train.max_iter") == str(sanity.init_iters + sanity.student_iters)
        else:
            assert _value(task, "train.init_checkpoint") == f"{init.output_dir}/model_final.pth", name
            assert _value(task, "train.max_iter") == str(sanity.student_iters)
        # gradient diagnostics in the distillation rows only (a plain detector refuses the key)
        assert ("train.distill_diagnostics_period=50" in task.command) == (row.role == "baseline"), name
        if row.role == "baseline":
            teacher = lineage if "lineage" in row.name else wide
            assert _value(task, "model.teachers.weights") == f"{teacher.output_dir}/model_final.pth", name
    assert {n.split("/")[0] for n in tasks if n.endswith("seed2")} == {
        r.name for r in SANITY_ROWS if r.role not in ("teacher", "init")}


def test_sanity_weights_follow_the_one_rule_and_practices_change_one_thing(tmp_path):
    tasks = _tasks(tmp_path)
    for name, task in tasks.items():
        row = task.row
        if row.role != "baseline":
            continue
        kind, ratio = row.name[len("sanity_"):].rsplit("_", 1)
        measured = SANITY_RATIO_AT_WEIGHT_1["wide" if kind == "wide_ramp" else kind]
        assert float(_value(task, "model.distill_losses.0.weight")) == pytest.approx(
            SANITY_RATIOS[ratio] / measured, rel=1e-3), name
    assert _value(tasks["sanity_wide_adapters_lo/seed0"], "model.adapters") == "always"
    assert _value(tasks["sanity_wide_inherit_lo/seed0"], "model.inherit").startswith("[proposal_generator,")
    assert row_by_name("sanity_wide_scratch_lo").versus == "sanity_student_scratch"
    assert not set(PROFILES["full"].rows) & {r.name for r in SANITY_ROWS}


def test_a_teacher_from_the_warm_up_needs_a_warm_up_row(tmp_path):
    teacher = row_by_name("sanity_teacher_lineage")
    profile = Profile(name="x", rows=(teacher.name,), student_iters=1, teacher_iters=1)
    with pytest.raises(BenchmarkError, match="trains on from the students' warm-up .* has no warm-up row"):
        plan_tasks(profile, [teacher], str(tmp_path))


def test_paired_table_by_hand():
    student = Row("s", "Plain", "sanity", "c.py", role="student", headline=True)
    method = Row("m", "FitNet", "sanity", "f.py", role="baseline", all_seeds=True)
    scratch = Row("s0", "Plain from scratch", "sanity", "c.py", role="student", own_start=True)
    late = Row("m0", "FitNet from scratch", "sanity", "f.py", role="baseline", own_start=True, versus="s0")
    tasks = [_finished(student, s, ap) for s, ap in [(0, 6.0), (1, 7.0), (2, 6.5)]]
    tasks += [_finished(method, s, ap) for s, ap in [(0, 7.0), (1, 6.5), (2, 8.0)]]
    tasks += [_finished(scratch, s, ap) for s, ap in [(0, 3.0), (1, 4.0)]]
    tasks += [_finished(late, s, ap) for s, ap in [(0, 3.5), (1, 4.25)]]
    table = paired_table(collect(tasks, [student, method, scratch, late]), "sanity")
    lines = table.splitlines()
    assert lines[0].startswith("| row | AP seed 0 | AP seed 1 | AP seed 2 | AP mean ± std | against |")
    # 7 - 6, 6.5 - 7, 8 - 6.5; mean +0.67; seed 1 worse
    assert "| FitNet | 7.00 | 6.50 | 8.00 | 7.17 ± 0.76 | s | +1.00, -0.50, +1.50 | +0.67 | no |  |  |" in lines
    # measured against its own reference row (versus), on the seeds both have
    assert "| FitNet from scratch | 3.50 | 4.25 |  | 3.88 ± 0.53 | s0 | +0.50, +0.25 | +0.38 | yes |  |  |" in lines
    assert "| Plain | 6.00 | 7.00 | 6.50 | 6.50 ± 0.50 |  |  |  |  |  |  |" in lines
    # a second plain student (a reference of its own) is not measured against the first
    assert "| Plain from scratch | 3.00 | 4.00 |  | 3.50 ± 0.71 |  |  |  |  |  |  |" in lines


def test_gradient_balance_reads_the_runs_diagnostics(tmp_path):
    """Median over the measured iterations of the FPN ratio and cosine, of the single term
    (or of ``distill`` when there are several); None for a run without diagnostics."""
    import json

    from benchmarks.report import gradient_balance

    records = [{"iteration": 0, "total_loss": 2.0},
               {"iteration": 49, "grad_ratio/fitnet/neck": 0.5, "grad_cos/fitnet/neck": 0.1,
                "grad_ratio/fitnet/backbone": 9.0},
               {"iteration": 99, "grad_ratio/fitnet/neck": 0.7, "grad_cos/fitnet/neck": -0.3},
               {"iteration": 149, "grad_ratio/fitnet/neck": 0.9, "grad_cos/fitnet/neck": 0.0}]
    (tmp_path / "metrics.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert gradient_balance(str(tmp_path)) == pytest.approx((0.7, 0.0))
    records[1].update({"grad_ratio/distill/neck": 2.0, "grad_cos/distill/neck": 0.4})
    (tmp_path / "metrics.json").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert gradient_balance(str(tmp_path)) == pytest.approx((2.0, 0.4))
    assert gradient_balance(str(tmp_path / "nothing")) is None


def test_sanity_methods_scale_each_shipped_outer_weight_by_its_measured_factor(tmp_path):
    """The methods' rows: each config's outer weight as shipped (checked against the config, so
    that a config edit cannot leave a stale product), times the factor measured before the
    runs; every row starts from the warm-up and distils from teacher (b); DFMSD's first SAL
    stage from the weaker teacher, and its box cache from that teacher."""
    from omegaconf import OmegaConf

    from benchmarks.plan import SANITY_METHODS
    from benchmarks.runner import _load

    profile = PROFILES["sanity_methods"]
    for name, (_, config, stages, key, shipped, factor) in SANITY_METHODS.items():
        assert OmegaConf.select(_load(config, []), key) == pytest.approx(shipped), name
        assert factor is not None and 0 < factor, f"{name}: measure its factor before its runs"
        row = row_by_name(f"sanity_{name}_lo")
        assert row.name in profile.rows and row.stages == stages and row.all_seeds
        assert row.overrides == (f"{key}={shipped * factor:.4g}",)
        assert OmegaConf.select(_load(config, row.overrides), key) == pytest.approx(shipped * factor, rel=1e-3)
    rows = [row_by_name(n) for n in profile.rows]
    tasks = {t.name: t for t in plan_tasks(profile, rows, str(tmp_path))}
    init, wide = tasks["sanity_init/seed0"], tasks["sanity_teacher_wide/seed0"]
    weak = tasks["sanity_teacher_weak/seed0"]
    for name in SANITY_METHODS:
        for seed in (0, 1, 2):
            task = tasks[f"sanity_{name}_lo/seed{seed}"]
            assert _value(task, "train.init_checkpoint") == f"{init.output_dir}/model_final.pth"
            assert _value(task, "model.teachers.weights") == f"{wide.output_dir}/model_final.pth"
            assert _value(task, "train.distill_diagnostics_period") == "50"
    sal = tasks["sanity_dfmsd_lo/seed0"]
    assert _value(sal, "stages.0.model.teachers.weights") == f"{weak.output_dir}/model_final.pth"
    assert tasks["box_cache"].needs == (weak.name,)
    assert "box_cache" in tasks["sanity_dfmsd_onestage_lo/seed1"].needs


def test_sanity_ablations_keep_the_full_rows_weight_and_drop_one_term(tmp_path):
    from omegaconf import OmegaConf

    from benchmarks.plan import SANITY_ABLATION_ROWS
    from benchmarks.runner import _load

    profile = PROFILES["sanity_ablations"]
    assert {r.name for r in SANITY_ABLATION_ROWS} <= set(profile.rows)
    control = row_by_name("sanity_dfmsd_schedule_only_lo")  # the schedule alone: no distillation
    assert control.stages == 2 and OmegaConf.select(
        _load(control.config, control.overrides), "model.distill_losses.0.weight") == 0.0
    for row in SANITY_ABLATION_ROWS:
        if row is control:
            continue
        full = row_by_name(row.name.split("_no_")[0] + "_lo")
        assert row.overrides[: len(full.overrides)] == full.overrides and row.all_seeds
        key = full.overrides[0].split("=")[0]
        cfg, full_cfg = _load(row.config, row.overrides), _load(full.config, full.overrides)
        assert OmegaConf.select(cfg, key) == OmegaConf.select(full_cfg, key)
        loss, full_loss = cfg.model.distill_losses[0], full_cfg.model.distill_losses[0]
        changed = {k for k in set(loss) | set(full_loss) if loss.get(k) != full_loss.get(k)}
        changed |= {"masking_enhancement"} if cfg.model.get("masking_enhancement") != full_cfg.model.get(
            "masking_enhancement") else set()
        expected = {"sanity_mkd_no_multiscale_lo": {"use_multiscale"}, "sanity_mkd_no_fdmd_lo": {"use_fdmd"},
                    "sanity_mkd_no_fad_lo": {"use_fad"}, "sanity_dfmsd_no_sfa_lo": {"gamma"},
                    "sanity_dfmsd_no_me_lo": {"masking_enhancement"},
                    "sanity_mkd_no_fad_fdmd_lo": {"use_fad", "use_fdmd"}}[row.name]
        assert changed == expected, (row.name, changed)
    tasks = plan_tasks(profile, [row_by_name(n) for n in profile.rows], str(tmp_path))
    assert len([t for t in tasks if t.row is not None and t.row in SANITY_ABLATION_ROWS]) == 21  # 7 rows x 3 seeds
