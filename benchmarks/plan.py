"""What the benchmark trains: rows (one config each) and profiles (scale and schedule).

A :class:`Row` is one line of a results table: a config run through
``tools/lazyconfig_train_net.py``. Teacher checkpoints are not named here: a
distillation config's ``teachers.weights`` default (for example
``output/teachers/retinanet_R50_FPN/model_final.pth``) is matched to the teacher
row whose config writes there, and replaced by that row's benchmark checkpoint
(see :mod:`benchmarks.runner`). Likewise every ``box_cache`` of a masking
enhancement mapper is replaced by the cache the benchmark makes with the weaker
teacher.

A :class:`Profile` fixes the data, the schedule and the seeds of the headline
rows, so that every row of one profile runs on the same schedule.
"""
from dataclasses import dataclass, replace
from typing import Dict, List, Sequence, Tuple

__all__ = ["Row", "Profile", "ROWS", "PROFILES", "rows_for", "row_by_name"]


@dataclass(frozen=True)
class Row:
    """One benchmark row.

    Attributes:
        name: unique key (folder name, ``--rows`` argument).
        label: the method's name in the tables.
        table: which table the row belongs to (``TABLES`` of the report).
        config: lazy config, relative to the repository root.
        role: "teacher" (trained first, used by others), "init" (the common
            warm-up of every student row, trained first), "student" (the plain
            student every other row is compared with), "distill", or "baseline"
            (a distillation baseline; the best one becomes a headline row).
        headline: run with the profile's ``headline_seeds`` seeds.
        stages: SAL stages of the config; each stage gets ``iterations / stages``
            so that a multi-stage run has the same total schedule as the others.
        overrides: extra ``key=value`` overrides of this row.
        segm: the row reports mask AP too (Mask R-CNN).
        all_seeds: run with the headline seeds without being a headline row
            (an ablation result worth its error bar).
        from_init: a teacher trained on from the profile's warm-up checkpoint
            (``student_init``) instead of from scratch: a teacher of the
            student's own lineage (the sanity profile's row (a)).
        own_start: a student row that does not start from the warm-up but from its
            config's own initialisation (fresh, or the pretrained backbone the config
            loads), and trains the warm-up's iterations as well (``init_iters +
            student_iters``): distillation from the start of the student's schedule.
        versus: the row this one is measured against, seed by seed (default: the
            plain student of its table).
        iterations: training iterations in all, instead of the profile's schedule for the
            row's role (a schedule probe); 0: the profile's.
    """

    name: str
    label: str
    table: str
    config: str
    role: str = "distill"
    headline: bool = False
    stages: int = 1
    overrides: Tuple[str, ...] = ()
    segm: bool = False
    all_seeds: bool = False
    from_init: bool = False
    own_start: bool = False
    versus: str = ""
    iterations: int = 0


@dataclass(frozen=True)
class Profile:
    """Scale and schedule shared by the rows of one benchmark run.

    Attributes:
        name: key of :data:`PROFILES`; also the results sub-folder.
        rows: names of the rows to run, in order.
        student_iters, teacher_iters: training iterations of students (total
            over stages) and of teachers.
        student_init: name of the "init" row whose final checkpoint every
            student row (plain and distilled) starts from (``train.init_checkpoint``;
            a SAL run's first stage); "" starts them from scratch.
        init_iters: training iterations of that row.
        headline_seeds: seeds of the headline rows (other rows use the first).
        overrides: ``key=value`` overrides applied to every row (data, logging).
        distill_overrides: more overrides of the distillation rows (roles "distill"
            and "baseline"), for keys that only a distiller has, such as
            ``model.min_input_size``.
        threads: torch threads per training process (``OMP_NUM_THREADS``).
        table: when set, every row of the profile is shown in this table (rows shared with
            another profile keep their names, hence their cached runs and records).
        note: what a reader of the profile's table must know (printed under it and
            written into its section), e.g. that the demo's scale cannot measure
            distillation.
        restart_stopped: a student row's run found stopped part-way (no result yet) is trained
            again from its start instead of resumed; teachers resume. A resume takes the steps
            of the uninterrupted run up to floating-point rounding (same batches and random
            draws, tests/test_exact_resume.py), so no profile needs it now; it stays for runs
            that must be bit for bit one piece.
        strongest_baselines: how many baselines, the best at their first seed on the split
            that chooses, run with every headline seed once every row has run.
        report_splits: datasets every row's final weights are evaluated on after training,
            besides its config's test split (``dataloader.test``, the split that chooses):
            the held-out split that only reports (its metrics go to the record's ``splits``).
        judge_targets: end the section with the targets written before the runs, judged on
            the first report split for the rows of ``table`` (benchmarks/targets.py).
    """

    name: str
    rows: Tuple[str, ...]
    student_iters: int
    teacher_iters: int
    student_init: str = ""
    init_iters: int = 0
    headline_seeds: Tuple[int, ...] = (0,)
    overrides: Tuple[str, ...] = ()
    distill_overrides: Tuple[str, ...] = ()
    threads: int = 0
    table: str = ""
    description: str = ""
    note: str = ""
    report_splits: Tuple[str, ...] = ()
    strongest_baselines: int = 1
    restart_stopped: bool = False
    judge_targets: bool = False

    def seeds(self, row: Row) -> Tuple[int, ...]:
        return self.headline_seeds if row.headline or row.all_seeds else self.headline_seeds[:1]

    def iterations(self, row: Row) -> int:
        """Iterations per stage of ``row``."""
        total = {"teacher": self.teacher_iters, "init": self.init_iters}.get(row.role, self.student_iters)
        if row.own_start:
            total = self.init_iters + self.student_iters
        if row.iterations:
            total = row.iterations
        return max(1, total // row.stages)

    def overrides_of(self, row: Row) -> Tuple[str, ...]:
        """The profile's overrides of ``row`` (before the row's own)."""
        distills = row.role in DISTILL_ROLES
        return tuple(self.overrides) + (tuple(self.distill_overrides) if distills else ())


_DF = "projects/DFMSD/configs/Shapes"
_MKD = "projects/MKD/configs/Shapes"
_MKD_MAIN = f"{_MKD}/mkd_R18w64_to_R18_faster_rcnn.py"

# Faster R-CNN throughout: trained from scratch on the CPU it learns within the
# benchmark's budget, where RetinaNet is still in its first phase (bbox AP 0.6 after
# 900 iterations; docs/RESULTS.md, "Scale and schedule"). The RetinaNet configs
# run the same methods (``--extra-rows`` does not list them: they are not rows).
ROWS: List[Row] = [
    # teachers (weaker one: SAL stage 1 and DFMSD's box cache; stronger: everyone else's)
    Row("teacher_weak", "Teacher Faster R-CNN R34", "main", f"{_DF}/faster_rcnn_R34_FPN.py", role="teacher"),
    Row("teacher_strong", "Teacher Faster R-CNN R18w64", "main", "configs/Shapes/faster_rcnn_R18w64_FPN.py",
        role="teacher"),
    # the common start of every student row (plain and distilled): the plain student
    # after a short training of its own, standing in for the ImageNet initialisation
    # that the papers' students start from (no pretrained weights can be downloaded)
    Row("student_init", "Student Faster R-CNN R18 after the warm-up (start of every student row)", "main",
        "configs/Shapes/faster_rcnn_R18_FPN.py", role="init"),
    Row("student", "Student Faster R-CNN R18 (no distillation)", "main",
        "configs/Shapes/faster_rcnn_R18_FPN.py", role="student", headline=True),
    # baselines the papers compare against, R18w64 -> R18
    # (MGD, the baseline second by seed 0 and the only other one above the plain student
    # with it, runs with the headline seeds as well: all_seeds)
    *[
        Row(m, label, "main", f"configs/baselines/{m}_R18w64_to_R18_faster_rcnn.py", role="baseline",
            all_seeds=(m == "mgd"))
        for m, label in [("fitnet", "FitNet"), ("pkd", "PKD"), ("cwd", "CWD"), ("mgd", "MGD"),
                         ("fgd", "FGD"), ("dmkd", "DMKD")]
    ],
    Row("mkd", "MKD", "main", _MKD_MAIN, headline=True),
    Row("dfmsd", "DFMSD (R34 then R18w64)", "main", f"{_DF}/dfmsd_R34_R18w64_to_R18_faster_rcnn.py",
        headline=True, stages=2),
    # MKD table 4: one term dropped at a time
    *[
        Row(f"mkd_no_{t}", f"MKD without {label}", "mkd_ablation", _MKD_MAIN,
            overrides=(f"model.distill_losses.0.use_{t}=False",), all_seeds=(t == "fdmd"))
        for t, label in [("multiscale", "L_Multiscale"), ("fdmd", "L_FDMD"), ("fad", "L_FAD")]
    ],
    # (without L_FDMD and the recalibrated alpha below ended above the plain student with
    # seed 0: all_seeds runs them with the headline seeds)
    # two weightings chosen after the MKD rows' results (docs/RESULTS.md, "Loss weights"):
    # tools/loss_scale.py at the rows' real start (the warm-up checkpoint) measured the
    # terms at weight (the paper's alpha) 1.6e-4 as fea 0.130, multiscale 0.386, fdmd 0.118, fad 0.0045 next to
    # a detection loss of 1.52, i.e. 0.42x (the calibration used a from-scratch student)
    Row("mkd_alpha_warm", "MKD, alpha 3.8e-5: 0.1x at the warm start (set after the results)",
        "mkd_ablation", _MKD_MAIN, overrides=("model.distill_losses.0.weight=3.8e-5",), all_seeds=True),
    Row("mkd_balanced", "MKD, each term 1/4 of 0.1x at the warm start (set after the results)",
        "mkd_ablation", _MKD_MAIN,
        overrides=("model.distill_losses.0.fea_weight=0.29", "model.distill_losses.0.multiscale_weight=0.099",
                   "model.distill_losses.0.fdmd_weight=0.32", "model.distill_losses.0.fad_weight=8.4")),
    # DFMSD table 11 (homogeneous pair): SAL, ME and SFA alone and in pairs
    Row("dfmsd_sal", "SAL", "dfmsd_ablation", f"{_DF}/ablations/table11_faster_rcnn_sal.py", stages=2),
    Row("dfmsd_me", "ME", "dfmsd_ablation", f"{_DF}/ablations/table11_faster_rcnn_me.py"),
    Row("dfmsd_sfa", "SFA", "dfmsd_ablation", f"{_DF}/ablations/table11_faster_rcnn_sfa.py"),
    Row("dfmsd_sal_me", "SAL + ME", "dfmsd_ablation", f"{_DF}/ablations/table11_faster_rcnn_sal_me.py",
        stages=2),
    Row("dfmsd_sal_sfa", "SAL + SFA", "dfmsd_ablation", f"{_DF}/ablations/table11_faster_rcnn_sal_sfa.py",
        stages=2),
    # (the one-stage run has the headline seeds as well: set against the two-stage DFMSD
    # row it decides whether SAL helps)
    Row("dfmsd_onestage", "ME + SFA (one stage, R18w64 only; figure 3)", "dfmsd_ablation",
        f"{_DF}/dfmsd_onestage_R18w64_to_R18_faster_rcnn.py", all_seeds=True),
    # instance segmentation (MKD table 2); the teacher is the detection teacher above
    # (with the headline seeds: a one-seed difference is within the seed noise)
    Row("mask_student", "Student Mask R-CNN R18 (no distillation)", "mask_rcnn",
        f"{_MKD}/mask_rcnn_R18_FPN.py", role="student", segm=True, all_seeds=True),
    Row("mask_mkd", "MKD (teacher: Faster R-CNN R18w64)", "mask_rcnn",
        f"{_MKD}/mkd_R18w64_to_R18_mask_rcnn.py", segm=True, all_seeds=True),
]

# The sanity profile (issue "Knowledge that reaches the student", docs/RESULTS.md "Sanity"):
# does knowledge reach the student at all, and from which teacher? Two teachers:
# (a) one of the student's own lineage (its architecture, trained on from the student's
# warm-up, several times the students' schedule), whose features the student can copy
# one for one, and (b) an independently trained wider one (R18w64 from scratch), the
# situation of every real user. From the same warm-up, the plain student and FitNet
# students at two weights train the same iterations, with 3 paired seeds; rows after
# them try the practices that should turn (b) positive.
_SANITY_FITNET_LINEAGE = "configs/sanity/fitnet_R18lineage_to_R18_faster_rcnn.py"
_SANITY_FITNET_WIDE = "configs/baselines/fitnet_R18w64_to_R18_faster_rcnn.py"
# FitNet weights that make the distillation loss SANITY_RATIOS x the detection loss at the
# rows' real start (the warm-up checkpoint), measured by tools/loss_scale.py over
# SANITY_CALIBRATION_BATCHES training batches with each trained teacher (docs/RESULTS.md,
# "Sanity"): one rule for every row, never tuned on AP
SANITY_RATIOS = {"hi": 1.0, "lo": 0.1}
SANITY_CALIBRATION_BATCHES = 20
# distillation / detection at weight 1.0, per row kind (the weight for a ratio r is r / this)
# (measured 2026-12-04 with the trained teachers, seed 0, 20 batches; per-batch min-max in
# the comments; docs/RESULTS.md "Sanity" has the commands)
SANITY_RATIO_AT_WEIGHT_1 = {
    "lineage": 79.59,  # FitNet, teacher (a)
    "wide": 95.91,  # FitNet, teacher (b); batches 72-161
    "wide_adapters": 66.29,  # with a fresh 1x1 adapter at every level; 40-136
    "wide_inherit": 51.27,  # with the RPN and FPN output convs copied from the teacher; 37-100
    "wide_pkd": 2.835,  # PKD, teacher (b); 2.6-3.2
    "wide_scratch": 38.07,  # FitNet, teacher (b), a fresh student (no warm-up); 24-73
    "wide_mobilenet": 32.98,  # FitNet, teacher (b), the ImageNet MobileNetV2 student; 19-58
}
# the practices of part 3 run at the 0.1x ratio of the shipped configs (decided before the runs)
SANITY_PRACTICE_RATIO = "lo"
SANITY_INHERIT = "model.inherit=[proposal_generator,backbone.fpn_output2,backbone.fpn_output3," \
                 "backbone.fpn_output4,backbone.fpn_output5]"


def _sanity_row(kind: str, ratio: str, label: str, config: str = "", overrides=(), calibrated_as: str = "",
                **fields) -> Row:
    """A distillation row of the sanity profile; its weight follows the one rule, measured
    for its own kind or, for a row whose start is that of another (the schedule row: the
    same loss, a factor over time), for ``calibrated_as``."""
    teacher = "lineage" if kind == "lineage" else "wide"
    config = config or (_SANITY_FITNET_LINEAGE if teacher == "lineage" else _SANITY_FITNET_WIDE)
    weight = SANITY_RATIOS[ratio] / SANITY_RATIO_AT_WEIGHT_1[calibrated_as or kind]
    which = "(a) same-lineage" if teacher == "lineage" else "(b) independent wider"
    return Row(
        f"sanity_{kind}_{ratio}", f"{label} from {which} teacher, {SANITY_RATIOS[ratio]:g}x at the start",
        "sanity", config, role="baseline", all_seeds=True,
        overrides=(f"model.distill_losses.0.weight={weight:.4g}", *overrides), **fields,
    )


SANITY_ROWS: List[Row] = [
    Row("sanity_teacher_lineage", "Teacher (a): student architecture, trained on from the warm-up",
        "sanity", "configs/sanity/teacher_R18_FPN_lineage.py", role="teacher", from_init=True),
    Row("sanity_teacher_wide", "Teacher (b): R18w64, trained from scratch", "sanity",
        "configs/Shapes/faster_rcnn_R18w64_FPN.py", role="teacher"),
    Row("sanity_init", "Student after the warm-up (start of every student row)", "sanity",
        "configs/Shapes/faster_rcnn_R18_FPN.py", role="init"),
    Row("sanity_student", "Student (no distillation)", "sanity", "configs/Shapes/faster_rcnn_R18_FPN.py",
        role="student", headline=True),
    _sanity_row("lineage", "hi", "FitNet"),
    _sanity_row("lineage", "lo", "FitNet"),
    _sanity_row("wide", "hi", "FitNet"),
    _sanity_row("wide", "lo", "FitNet"),
    # the practices (issue 15, part 3), each on teacher (b) at SANITY_PRACTICE_RATIO
    _sanity_row("wide_adapters", SANITY_PRACTICE_RATIO, "FitNet, 1x1 adapter at every level",
                overrides=("model.adapters=always",)),
    _sanity_row("wide_pkd", SANITY_PRACTICE_RATIO, "PKD (normalised features)",
                config="configs/baselines/pkd_R18w64_to_R18_faster_rcnn.py"),
    _sanity_row("wide_inherit", SANITY_PRACTICE_RATIO, "FitNet, RPN and FPN outputs inherited",
                overrides=(SANITY_INHERIT,)),
    _sanity_row("wide_ramp", SANITY_PRACTICE_RATIO, "FitNet, weight ramped up then decayed",
                config="configs/sanity/fitnet_R18w64_to_R18_faster_rcnn_ramp.py", calibrated_as="wide"),
    Row("sanity_student_scratch", "Student from scratch (no distillation), warm-up + student iterations",
        "sanity", "configs/Shapes/faster_rcnn_R18_FPN.py", role="student", all_seeds=True,
        own_start=True),
    _sanity_row("wide_scratch", SANITY_PRACTICE_RATIO, "FitNet from scratch (distilled from the start)",
                own_start=True, versus="sanity_student_scratch"),
    # the pretrained student: MobileNetV2-FPN from torchvision's ImageNet weights (both rows
    # start there and train the warm-up's iterations too)
    Row("sanity_student_mobilenet", "Student MobileNetV2-FPN from ImageNet (no distillation)", "sanity",
        "configs/Shapes/faster_rcnn_MobileNetV2_FPN.py", role="student", all_seeds=True, own_start=True),
    _sanity_row("wide_mobilenet", SANITY_PRACTICE_RATIO, "FitNet, MobileNetV2-FPN student from ImageNet,",
                config="configs/sanity/fitnet_R18w64_to_MobileNetV2_faster_rcnn.py", own_start=True,
                versus="sanity_student_mobilenet"),
]
ROWS += SANITY_ROWS

# The sanity profile's methods (issue "MKD and DFMSD measured where knowledge flows",
# docs/RESULTS.md "Sanity: the methods"): the sanity profile's regime exactly (its image
# size, warm-up, teacher (b), 300 iterations, 3 paired seeds), every method at 0.1x the
# detection loss at its real start by the one rule. SAL's first stage distils from a weaker
# teacher trained from scratch for the teachers' 1000 iterations: the R34 (width 32) of the
# shipped DFMSD config.
SANITY_WEAK_TEACHER = Row("sanity_teacher_weak", "Weaker teacher: R34 at width 32, trained from scratch "
                          "(SAL stage 1, DFMSD's box cache)", "sanity", f"{_DF}/faster_rcnn_R34_FPN.py",
                          role="teacher")
ROWS.append(SANITY_WEAK_TEACHER)
# Each method's outer weight as shipped (the key and value of its config) and the factor
# tools/loss_scale.py --iters 200 --target 0.1 reported at the row's real start in the sanity
# regime (docs/results/loss_scale/sanity/<name>.txt, measured 2026-12-07 before any of these
# rows ran; standard errors 0.7-3.8%): weight = shipped x factor. The balance of a method's
# own terms stays as shipped.
SANITY_METHODS = {
    # name: (label, config, stages, outer weight key, shipped value, measured factor)
    "mkd": ("MKD", _MKD_MAIN, 1, "model.distill_losses.0.weight", 1.1e-4, 2.6),
    "dfmsd": ("DFMSD (R34 then R18w64, SAL)", f"{_DF}/dfmsd_R34_R18w64_to_R18_faster_rcnn.py", 2,
              "model.distill_losses.0.weight", 2.8e-9, 1.78),
    "dfmsd_onestage": ("DFMSD one stage (ME + SFA, R18w64)", f"{_DF}/dfmsd_onestage_R18w64_to_R18_faster_rcnn.py",
                       1, "model.distill_losses.0.weight", 3.7e-9, 1.63),
    **{m: (label, f"configs/baselines/{m}_R18w64_to_R18_faster_rcnn.py", 1, "model.distill_losses.0.weight",
           shipped, factor)
       for m, label, shipped, factor in [("cwd", "CWD", 5.6e-3, 1.32), ("mgd", "MGD", 2.2e-8, 3.63),
                                         ("fgd", "FGD", 1.5e-4, 7.92), ("dmkd", "DMKD", 1.0e-8, 4.24)]},
}


def _sanity_method_row(name: str) -> Row:
    label, config, stages, key, shipped, factor = SANITY_METHODS[name]
    return Row(f"sanity_{name}_lo", f"{label} from (b) independent wider teacher, 0.1x at the start", "sanity",
               config, role="distill" if name.startswith(("mkd", "dfmsd")) else "baseline", all_seeds=True,
               stages=stages, overrides=(f"{key}={shipped * factor:.4g}",))


SANITY_METHOD_ROWS: List[Row] = [_sanity_method_row(n) for n, v in SANITY_METHODS.items() if v[-1] is not None]
ROWS += SANITY_METHOD_ROWS


def _sanity_ablation_row(method: str, name: str, label: str, config: str = "", overrides=()) -> Row:
    """A drop-one ablation of a sanity method row: its config (or an ablation config built on
    it) at the full row's weight, one term switched off (decided before the runs:
    docs/RESULTS.md, "Sanity: the methods")."""
    full = {r.name: r for r in SANITY_METHOD_ROWS}[f"sanity_{method}_lo"]
    return replace(full, name=f"sanity_{method}_no_{name}_lo", label=f"{label} (drop-one ablation)",
                   config=config or full.config, overrides=full.overrides + tuple(overrides))


# MKD table 4 and DFMSD table 11 at the sanity scale, one term dropped at a time (DFMSD
# without SAL is the one-stage row)
SANITY_ABLATION_ROWS: List[Row] = [
    *[_sanity_ablation_row("mkd", term, f"MKD without {label}",
                           overrides=(f"model.distill_losses.0.use_{term}=False",))
      for term, label in [("multiscale", "L_Multiscale"), ("fdmd", "L_FDMD"), ("fad", "L_FAD")]],
    _sanity_ablation_row("dfmsd", "me", "DFMSD without ME (SAL + SFA)",
                         config=f"{_DF}/ablations/table11_faster_rcnn_sal_sfa.py"),
    _sanity_ablation_row("dfmsd", "sfa", "DFMSD without SFA (SAL + ME)",
                         config=f"{_DF}/ablations/table11_faster_rcnn_sal_me.py"),
]
# Added after the DFMSD ablations showed SAL to be the part that costs (docs/RESULTS.md, "Sanity:
# the methods"): a control for the schedule alone. Each SAL stage is a training of its own (its
# own warm-up and cosine decay over 150 iterations), so the two-stage row also restarts the
# learning rate half-way; this row keeps the two stages and sets every distillation weight to 0.
SANITY_SAL_SCHEDULE_ROW = replace(
    {r.name: r for r in SANITY_METHOD_ROWS}["sanity_dfmsd_lo"], name="sanity_dfmsd_schedule_only_lo",
    label="DFMSD's two-stage schedule, every distillation weight 0 (a control, added after the results)",
    overrides=("model.distill_losses.0.weight=0.0",))
SANITY_ABLATION_ROWS.append(SANITY_SAL_SCHEDULE_ROW)
# Added with it, after the MKD ablations showed MKD without L_FAD above full MKD and without L_FDMD
# above the plain student: MKD with both dropped (L_Multiscale alone), at the full row's weight.
SANITY_ABLATION_ROWS.append(_sanity_ablation_row(
    "mkd", "fad_fdmd", "MKD without L_FAD and L_FDMD (L_Multiscale alone; added after the results)",
    overrides=("model.distill_losses.0.use_fad=False", "model.distill_losses.0.use_fdmd=False")))
ROWS += SANITY_ABLATION_ROWS

# The converged benchmark (docs/RESULTS.md, "Converged", revised 2026-12-07 before any of its
# runs): the sanity regime's image size, an edge-sized student from scratch (R18 at width 16,
# 32-channel FPN, 1.2M parameters), val chooses and the test split only reports. Its first
# runs are the probes of steps 2 and 3, seed 0, chosen on val: the schedule N (the plain
# student at 1500 and 3000 iterations: N = 1500 if 3000 gains under 0.5 AP over it, else
# 3000) and the R18w64 teacher's lead at 1500 (the first teacher of the protocol's order).
# The student gained 18.3 AP from 1500 to 3000 iterations, so N = 3000; the student at 2N =
# 6000 says how far from its plateau it is at N, and the teacher is probed at N.
# They are rows of the converged tables too (the plain student at N, seed 0; the plain student
# at 2N; the teacher at N), so each run also evaluates the test split, which only reports.
CONVERGED_STUDENT = "configs/Shapes/faster_rcnn_R18w16_FPN.py"
CONVERGED_TEACHER = "configs/Shapes/faster_rcnn_R18w64_FPN.py"
CONVERGED_TEST = ("d2kd_shapes_bench_test",)
CONVERGED_N = 3000
# the plain student given a distilled row's compute: 3N where that fits a 45-minute run (N =
# 1500), else 2N (9000 plain iterations at 0.4 s would take an hour)
CONVERGED_SAME_COMPUTE = 2


def _converged_student_row(n: int) -> Row:
    """The plain student at ``n`` iterations; beyond N, measured against the student at N."""
    label = f"Student R18w16-FPN32 from scratch, {n} iterations"
    if n == CONVERGED_SAME_COMPUTE * CONVERGED_N:
        label += " (a distilled row's compute)"
    return Row(f"conv_student_{n}", label, "converged", CONVERGED_STUDENT, role="student", all_seeds=True,
               iterations=n, versus=f"conv_student_{CONVERGED_N}" if n > CONVERGED_N else "")


CONVERGED_PROBE_ROWS: List[Row] = [
    *[_converged_student_row(n) for n in (1500, 3000, 6000)],
    *[Row(f"conv_teacher_r18w64_{n}", f"Teacher R18w64-FPN64 from scratch, {n} iterations", "converged",
          CONVERGED_TEACHER, role="teacher", iterations=n) for n in (1500, 3000)],
]
ROWS += CONVERGED_PROBE_ROWS

# The converged benchmark proper, fixed from the probes (docs/RESULTS.md, "Converged: the
# choices"): schedule N, the plain student given the compute of a distilled row
# (CONVERGED_SAME_COMPUTE x N iterations), DFMSD's weaker SAL teacher, and each method's outer
# weight: shipped x the factor tools/loss_scale.py --iters 200 --target 0.1 measured at the
# row's real start (a fresh student, seed 0, and the trained teachers; reports in
# docs/results/loss_scale/converged/). A method whose factor is None has no row yet.
CONVERGED_WEAK_TEACHER = f"{_DF}/faster_rcnn_R34_FPN.py"
# the distilled rows' student: the converged student's width, in the distillation configs
CONVERGED_DISTILLED_STUDENT = ("model.student.backbone.bottom_up.stages.base_width=16",
                               "model.student.backbone.out_channels=32")
CONVERGED_METHODS = {
    # name: (label, config, stages, outer weight key, shipped value, measured factor, seeds)
    "mkd": ("MKD", _MKD_MAIN, 1, "model.distill_losses.0.weight", 1.1e-4, 11.4, 3),
    "dfmsd": ("DFMSD (R34w32 then R18w64, SAL)", f"{_DF}/dfmsd_R34_R18w64_to_R18_faster_rcnn.py", 2,
              "model.distill_losses.0.weight", 2.8e-9, 3.06, 3),
    "dfmsd_onestage": ("DFMSD one stage (ME + SFA, R18w64)", f"{_DF}/dfmsd_onestage_R18w64_to_R18_faster_rcnn.py",
                       1, "model.distill_losses.0.weight", 3.7e-9, 3.02, 1),
    **{m: (label, f"configs/baselines/{m}_R18w64_to_R18_faster_rcnn.py", 1, "model.distill_losses.0.weight",
           shipped, factor, 1)
       for m, label, shipped, factor in [
           ("fitnet", "FitNet", 4.7e-4, 10.6), ("pkd", "PKD", 0.032, 1.91), ("cwd", "CWD", 5.6e-3, 5.08),
           ("mgd", "MGD", 2.2e-8, 8.13), ("fgd", "FGD", 1.5e-4, 9.2), ("dmkd", "DMKD", 1.0e-8, 9.56)]},
}


def _converged_method_row(name: str) -> Row:
    label, config, stages, key, shipped, factor, seeds = CONVERGED_METHODS[name]
    # MKD and two-stage DFMSD are the profile's headline methods (their loss curves, their exported
    # students in a deploy-cost table); the other rows with several seeds are all_seeds rows
    return Row(f"conv_{name}", f"{label}, R18w16 student from scratch", "converged", config,
               role="distill" if name.startswith(("mkd", "dfmsd")) else "baseline",
               headline=name in ("mkd", "dfmsd"), all_seeds=seeds > 1,
               stages=stages, overrides=(f"{key}={shipped * factor:.4g}",))


_CONVERGED_PROBES = {r.name: r for r in CONVERGED_PROBE_ROWS}
CONVERGED_ROWS: List[Row] = [
    _CONVERGED_PROBES[f"conv_teacher_r18w64_{CONVERGED_N}"],
    Row(f"conv_teacher_weak_{CONVERGED_N}", f"Weaker teacher R34w32 from scratch, {CONVERGED_N} iterations "
        "(SAL stage 1, DFMSD's box cache)", "converged", CONVERGED_WEAK_TEACHER, role="teacher",
        iterations=CONVERGED_N),
    _CONVERGED_PROBES[f"conv_student_{CONVERGED_N}"],
    _CONVERGED_PROBES[f"conv_student_{CONVERGED_SAME_COMPUTE * CONVERGED_N}"],
    *[_converged_method_row(n) for n, v in CONVERGED_METHODS.items() if v[5] is not None],
]
ROWS += [r for r in CONVERGED_ROWS if r not in CONVERGED_PROBE_ROWS]

# The converged benchmark's ablations and instance segmentation, fixed before their runs
# (docs/RESULTS.md, "Converged: ablations and Mask R-CNN"): the profile's scale, schedule and
# teachers. Each ablation keeps the weight of the row it comes from (MKD table 4: MKD's; DFMSD
# table 11: the two-stage row's for the rows with SAL, the one-stage row's for those without)
# and switches terms off as the shipped ablation configs do; seed 0. The Mask R-CNN rows (MKD
# table 2): the converged student's width on the Mask R-CNN config, plain and with MKD
# (the R18w64 detection teacher; its weight by the one rule at its start, CONVERGED_MASK_MKD_FACTOR),
# 3 paired seeds.
CONVERGED_MASK_STUDENT = f"{_MKD}/mask_rcnn_R18_FPN.py"
CONVERGED_MASK_MKD_FACTOR = 8.04  # docs/results/loss_scale/converged/mkd_mask.txt


def _converged_weight(method: str) -> str:
    """The weight override of ``method``'s converged row (shipped x measured factor)."""
    _, _, _, key, shipped, factor, _ = CONVERGED_METHODS[method]
    return f"{key}={shipped * factor:.4g}"


_BASELINE = f"conv_student_{CONVERGED_N}"
CONVERGED_ABLATION_ROWS: List[Row] = [
    *[Row(f"conv_mkd_no_{t}", f"MKD without {label}", "converged_mkd_ablation", _MKD_MAIN, versus=_BASELINE,
          overrides=(_converged_weight("mkd"), f"model.distill_losses.0.use_{t}=False"))
      for t, label in [("multiscale", "L_Multiscale"), ("fdmd", "L_FDMD"), ("fad", "L_FAD")]],
    *[Row(f"conv_dfmsd_{parts}", label, "converged_dfmsd_ablation",
          f"{_DF}/ablations/table11_faster_rcnn_{parts}.py", versus=_BASELINE, stages=stages,
          overrides=(_converged_weight("dfmsd" if stages == 2 else "dfmsd_onestage"),))
      for parts, label, stages in [("sal", "SAL", 2), ("me", "ME (one stage)", 1), ("sfa", "SFA (one stage)", 1),
                                   ("sal_me", "SAL + ME", 2), ("sal_sfa", "SAL + SFA", 2)]],
    Row("conv_mask_student", "Student Mask R-CNN R18w16-FPN32 from scratch", "converged_mask_rcnn",
        CONVERGED_MASK_STUDENT, role="student", segm=True, all_seeds=True,
        overrides=("model.backbone.bottom_up.stages.base_width=16", "model.backbone.out_channels=32")),
]
if CONVERGED_MASK_MKD_FACTOR is not None:
    CONVERGED_ABLATION_ROWS.append(
        Row("conv_mask_mkd", "MKD (teacher: Faster R-CNN R18w64)", "converged_mask_rcnn",
            f"{_MKD}/mkd_R18w64_to_R18_mask_rcnn.py", segm=True, all_seeds=True,
            overrides=(f"model.distill_losses.0.weight={1.7e-4 * CONVERGED_MASK_MKD_FACTOR:.4g}",)))
ROWS += CONVERGED_ABLATION_ROWS

# rows trained before the others (teachers, the students' common warm-up), the rows
# every method is measured against (no Δ AP of their own), and the rows that distil
FIRST_ROLES = ("teacher", "init")
REFERENCE_ROLES = FIRST_ROLES + ("student",)
DISTILL_ROLES = ("distill", "baseline")

# In the full profile, every student row starts from the plain student after INIT_ITERS
# iterations (the "student_init" row: the stand-in for the ImageNet initialisation of
# the papers' students, which cannot be downloaded here) and trains STUDENT_ITERS more,
# 8 images an iteration (1.6 epochs of the 3000 training images); teachers train
# TEACHER_ITERS from scratch and end far above the students (the gap distillation can
# close).
STUDENT_ITERS = 600
TEACHER_ITERS = 1500
INIT_ITERS = 600

# The demo (``--quick``, ``make demo``): the converged benchmark's protocol at a scale that
# finishes in under 15 minutes on 2 cores from nothing: its teachers (R34w32 and R18w64 from
# scratch, QUICK_TEACHER_ITERS iterations), its edge-sized student from scratch (R18w16-FPN32)
# for N = QUICK_STUDENT_ITERS iterations and for 2N (a distilled row's compute), MKD and
# two-stage DFMSD at the converged rows' weights, one seed, val chooses and the held-out test
# split reports. Images at a short edge of 100 or 112 px (test 112; not under 97: MKD's
# pooling kernel 4 needs p5, stride 32, to be 4 cells wide, which the distillers check
# against QUICK_DISTILL's min_input_size). At this scale every student ends about 1 AP from 0
# and the teachers at 1-3 AP (2026-12-07: 11 min 57 s from a fresh clone, set-up included), so
# its tables show the protocol at work, not whether distillation pays off: the converged
# profile measures that (docs/RESULTS.md).
QUICK_STUDENT_ITERS = 200
QUICK_TEACHER_ITERS = 300
QUICK_IMAGE_SIZE = (
    "dataloader.train.mapper.augmentations.0.short_edge_length=[100,112]",
    "dataloader.train.mapper.augmentations.0.max_size=192",
    "dataloader.test.mapper.augmentations.0.short_edge_length=112",
    "dataloader.test.mapper.augmentations.0.max_size=192",
)
QUICK_DISTILL = ("model.min_input_size=100",)
# the demo's own rows: the converged teachers and plain students on the profile's schedule (the
# converged ones fix theirs); its MKD and DFMSD rows are the converged rows themselves, so
# ``--extra-rows`` names any converged method row (conv_mgd, conv_dfmsd_onestage, ...)
DEMO_ROWS: List[Row] = [
    Row("demo_teacher_weak", "Weaker teacher R34w32 from scratch (SAL stage 1, DFMSD's box cache)", "quick",
        CONVERGED_WEAK_TEACHER, role="teacher"),
    Row("demo_teacher", "Teacher R18w64-FPN64 from scratch", "quick", CONVERGED_TEACHER, role="teacher"),
    Row("demo_student", "Student R18w16-FPN32 from scratch, N iterations", "quick", CONVERGED_STUDENT,
        role="student", headline=True),
    Row("demo_student_2n", "Student R18w16-FPN32 from scratch, 2N iterations (a distilled row's compute)",
        "quick", CONVERGED_STUDENT, role="student", iterations=2 * QUICK_STUDENT_ITERS, versus="demo_student"),
]
ROWS += DEMO_ROWS

# The sanity profile: the demo's image size (QUICK_IMAGE_SIZE), a short warm-up, teachers
# several times the students' schedule
SANITY_STUDENT_ITERS = 300
SANITY_TEACHER_ITERS = 1000
SANITY_INIT_ITERS = 200
# gradient-balance diagnostics in every distillation row (the same training, bit for bit)
SANITY_DIAGNOSTICS = ("train.distill_diagnostics_period=50",)
# what every profile of the sanity regime shares: scale, schedule, warm-up, seeds
_SANITY_REGIME = dict(
    student_iters=SANITY_STUDENT_ITERS, teacher_iters=SANITY_TEACHER_ITERS, student_init="sanity_init",
    init_iters=SANITY_INIT_ITERS, headline_seeds=(0, 1, 2), overrides=QUICK_IMAGE_SIZE,
    distill_overrides=QUICK_DISTILL + SANITY_DIAGNOSTICS,
)

PROFILES: Dict[str, Profile] = {
    "full": Profile(
        name="full",
        rows=tuple(r.name for r in ROWS if r.table in ("main", "mkd_ablation", "dfmsd_ablation", "mask_rcnn")),
        student_iters=STUDENT_ITERS,
        teacher_iters=TEACHER_ITERS,
        student_init="student_init",
        init_iters=INIT_ITERS,
        headline_seeds=(0, 1, 2),
        description="every row of the papers' tables, headline rows with 3 seeds",
    ),
    # issue 15's sanity check, at the demo's image size (about 45 minutes on 2 cores)
    "sanity": Profile(
        name="sanity",
        rows=tuple(r.name for r in SANITY_ROWS),
        **_SANITY_REGIME,
        description="does knowledge reach the student? a same-lineage and an independent teacher, "
                    "FitNet at two weights, 3 paired seeds",
        note="Sanity scale (benchmarks/plan.py, SANITY_*): the demo's image size, students "
             f"{SANITY_STUDENT_ITERS} iterations after a {SANITY_INIT_ITERS}-iteration warm-up, teachers "
             f"{SANITY_TEACHER_ITERS} (teacher (a) after the warm-up). Row (a) must beat the plain "
             "student with every seed, or knowledge does not reach the student; row (b) is the one the "
             "practices must turn positive. Settings were fixed before the runs; val AP.",
    ),
    # the methods in the sanity regime: rows are shared with "sanity" (same names, same
    # cached runs), shown in one table of their own
    "sanity_methods": Profile(
        name="sanity_methods",
        rows=("sanity_teacher_wide", "sanity_teacher_weak", "sanity_init", "sanity_student",
              "sanity_wide_lo", "sanity_wide_pkd_lo", *(r.name for r in SANITY_METHOD_ROWS)),
        **_SANITY_REGIME,
        table="sanity_methods",
        description="MKD, DFMSD and the classic baselines in the sanity regime, 3 paired seeds",
        note="Sanity scale, as the sanity profile: students 300 iterations after a 200-iteration "
             "warm-up, teachers 1000 from scratch; every distillation row at 0.1x the detection loss "
             "at its real start (tools/loss_scale.py, 200 batches). Settings were fixed before the "
             "runs; val AP.",
    ),
    # drop-one ablations of MKD and DFMSD in the same regime (run where the methods ended
    # below FitNet or PKD, as the protocol says); the full rows and references shared
    "sanity_ablations": Profile(
        name="sanity_ablations",
        rows=("sanity_teacher_wide", "sanity_teacher_weak", "sanity_init", "sanity_student",
              "sanity_mkd_lo", "sanity_dfmsd_lo", "sanity_dfmsd_onestage_lo",
              *(r.name for r in SANITY_ABLATION_ROWS)),
        **_SANITY_REGIME,
        table="sanity_ablations",
        description="MKD and DFMSD in the sanity regime with one part dropped at a time, 3 paired seeds",
        note="Sanity scale, as the sanity_methods profile; each ablation keeps its full row's weight "
             "and switches one term off (DFMSD without SAL is the one-stage row). Decided before the "
             "runs; val AP.",
    ),
    # the converged benchmark (docs/RESULTS.md, "Converged"): val chooses, test reports
    "converged": Profile(
        name="converged",
        rows=tuple(r.name for r in CONVERGED_ROWS),
        student_iters=CONVERGED_N,
        teacher_iters=CONVERGED_N,
        headline_seeds=(0, 1, 2),
        overrides=QUICK_IMAGE_SIZE,
        distill_overrides=QUICK_DISTILL + CONVERGED_DISTILLED_STUDENT + ("train.distill_diagnostics_period=100",),
        table="converged",
        report_splits=CONVERGED_TEST,
        strongest_baselines=2,
        judge_targets=True,
        description="MKD and DFMSD against a plain edge-sized student at a fixed budget of N "
                    "iterations (not its plateau: see the note), val chooses, test reports",
        note=f"Sanity image size (short edge 100-112 px, test 112), 8 images an iteration. Every student "
             f"is R18 at width 16 with a 32-channel FPN (1.2M parameters) from scratch, distilled from its "
             f"first iteration for N = {CONVERGED_N} iterations (SAL: N/2 a stage); the plain student also "
             f"at {CONVERGED_SAME_COMPUTE}N (a distilled row's compute). Teachers from scratch, N iterations. "
             "Each distillation row at 0.1x the detection loss at its real start (tools/loss_scale.py, "
             "200 batches). 3 paired seeds for the plain students, MKD, DFMSD and the two baselines best "
             "on val at seed 0; seed 0 for the rest. Fixed before the distilled runs (docs/RESULTS.md, "
             "\"Converged\"). Not converged: the plain student gains about 15 AP from N to 2N (the "
             "plateau rule asks for under 0.5), and at 2N it is level with the teacher at N; a schedule "
             "that meets the rule does not fit the machine's 45-minute runs here. So read the tables as a "
             "fixed budget: does a method speed the student up at N, and does that beat giving the plain "
             "student the distilled row's compute (the 2N row).",
    ),
    # the converged benchmark's probes (steps 2 and 3 of its protocol): val only, seed 0
    "converged_probes": Profile(
        name="converged_probes",
        rows=tuple(r.name for r in CONVERGED_PROBE_ROWS),
        student_iters=1500,
        teacher_iters=1500,
        overrides=QUICK_IMAGE_SIZE,
        table="converged_probes",
        description="the converged benchmark's schedule and teacher probes (val, seed 0)",
        note="Sanity image size (short edge 100-112 px, test 112), 8 images an iteration, from "
             "scratch, seed 0, val AP: these runs choose the schedule N and the teacher (docs/RESULTS.md, "
             "\"Converged\"). Each run also evaluates the test split (recorded for the converged tables, "
             "never used for a choice).",
        report_splits=CONVERGED_TEST,
    ),
}
# the README demo (``make demo``): the converged protocol at the demo's schedule (QUICK_*)
PROFILES["quick"] = replace(
    PROFILES["converged"],
    name="quick",
    rows=(*(r.name for r in DEMO_ROWS), "conv_mkd", "conv_dfmsd"),
    student_iters=QUICK_STUDENT_ITERS,
    teacher_iters=QUICK_TEACHER_ITERS,
    headline_seeds=(0,),
    distill_overrides=QUICK_DISTILL + CONVERGED_DISTILLED_STUDENT,
    table="quick",
    strongest_baselines=0,
    judge_targets=False,  # one seed at the demo's scale: no target can be judged
    description="the README demo: the converged protocol in small (two teachers, the plain student at N "
                "and 2N, MKD and DFMSD), one seed, val chooses, test reports",
    note=f"Demo scale (benchmarks/plan.py, QUICK_*): the converged profile's protocol (its teachers, its "
         f"R18w16-FPN32 student from scratch, its rows' weights, val and the held-out test split) with N = "
         f"{QUICK_STUDENT_ITERS} student iterations (the plain student also at 2N, a distilled row's compute) "
         f"and teachers of {QUICK_TEACHER_ITERS}, one seed. What it can show: the whole protocol running, "
         "every row on both splits, the costs. What it cannot: whether distillation pays off. Every student "
         "ends about 1 AP from 0 and the teachers 1-3 AP, and one seed is under the seed noise, so no "
         "difference in its tables is a result. The converged profile measures that "
         "(`python tools/benchmark.py --profile converged --jobs 2`; docs/RESULTS.md, \"Converged\").",
)
# the converged benchmark's ablations and Mask R-CNN rows: its scale, splits and teachers; the
# headline rows they are read against (cached from the converged profile) in its table
PROFILES["converged_ablations"] = replace(
    PROFILES["converged"],
    name="converged_ablations",
    rows=(*(r.name for r in CONVERGED_ROWS if r.role != "baseline"), *(r.name for r in CONVERGED_ABLATION_ROWS)),
    table="",
    strongest_baselines=0,
    judge_targets=False,
    description="the converged benchmark's ablations (MKD table 4, DFMSD table 11; seed 0) and Mask R-CNN "
                "students (MKD table 2; 3 paired seeds), val chooses, test reports",
    note=f"The converged profile's scale, schedule (N = {CONVERGED_N}), teachers and splits; its headline "
         "rows are repeated in the first table. Each ablation keeps the weight of the row it comes from and "
         "switches terms off (DFMSD: the two-stage row's weight with SAL, the one-stage row's without); the "
         "Mask R-CNN student is the converged student's width (R18w16, FPN 32) on the Mask R-CNN config, its "
         "MKD weight by the one rule at its start. Fixed before these runs (docs/RESULTS.md, \"Converged: "
         "ablations and Mask R-CNN\"). A fixed budget of N, not convergence, as in the converged profile.",
)


def row_by_name(name: str, rows: Sequence[Row] = ROWS) -> Row:
    for row in rows:
        if row.name == name:
            return row
    raise KeyError(f"Unknown benchmark row {name!r}; rows: {', '.join(r.name for r in rows)}")


def rows_for(profile: Profile, only: Sequence[str] = (), rows: Sequence[Row] = ROWS,
             extra: Sequence[str] = ()) -> List[Row]:
    """The profile's rows, in the profile's order.

    ``only``: a part of them (``--rows``); the profile's teachers and warm-up
    (roles in :data:`FIRST_ROLES`) come first all the same. ``extra``: rows of other
    profiles to run with them (``--extra-rows``), after them. Every row is shown in the
    profile's table where it has one. Raises ``KeyError`` for a name in ``only`` that is
    not a row of the profile, or a name in ``extra`` that is no row at all.
    """
    def shown(row: Row) -> Row:
        return replace(row, table=profile.table) if profile.table else row

    more = [shown(row_by_name(n, rows)) for n in extra if n not in profile.rows]
    if not only:
        return [shown(row_by_name(n, rows)) for n in profile.rows] + more
    unknown = [n for n in only if n not in profile.rows]
    if unknown:
        raise KeyError(f"--rows {' '.join(unknown)}: not rows of profile {profile.name!r}, whose rows are "
                       f"{', '.join(profile.rows)}; name other rows with --extra-rows")
    chosen = [shown(row_by_name(n, rows)) for n in profile.rows]
    return [r for r in chosen if r.role in FIRST_ROLES] + [
        r for r in chosen if r.name in only and r.role not in FIRST_ROLES] + more


def with_overrides(row: Row, extra: Sequence[str]) -> Row:
    """``row`` with more overrides (tests shrink the models this way)."""
    return replace(row, overrides=tuple(row.overrides) + tuple(extra))
