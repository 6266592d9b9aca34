"""What the benchmark trains: rows (one config each) and profiles (scale and schedule).

A :class:`Row` is one line of a results table: a config run through
``tools/lazyconfig_train_net.py``. Teacher checkpoints are not named here: a
distillation config's ``teachers.weights`` default (for example
``output/teachers/retinanet_R50_FPN/model_final.pth``) is matched to the teacher
row whose config writes there, and replaced by that row's benchmark checkpoint
(see :mod:`d2kd.benchmark.runner`). Likewise every ``box_cache`` of a masking
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
        role: "teacher" (trained first, used by others), "student" (the plain
            student every other row is compared with), "distill", or "baseline"
            (a distillation baseline; the best one becomes a headline row).
        headline: run with the profile's ``headline_seeds`` seeds.
        stages: SAL stages of the config; each stage gets ``iterations / stages``
            so that a multi-stage run has the same total schedule as the others.
        overrides: extra ``key=value`` overrides of this row.
        segm: the row reports mask AP too (Mask R-CNN).
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


@dataclass(frozen=True)
class Profile:
    """Scale and schedule shared by the rows of one benchmark run.

    Attributes:
        name: key of :data:`PROFILES`; also the results sub-folder.
        rows: names of the rows to run, in order.
        student_iters, teacher_iters: training iterations of students (total
            over stages) and of teachers.
        headline_seeds: seeds of the headline rows (other rows use the first).
        overrides: ``key=value`` overrides applied to every row (data, logging).
        threads: torch threads per training process (``OMP_NUM_THREADS``).
    """

    name: str
    rows: Tuple[str, ...]
    student_iters: int
    teacher_iters: int
    headline_seeds: Tuple[int, ...] = (0,)
    overrides: Tuple[str, ...] = ()
    threads: int = 0
    description: str = ""

    def seeds(self, row: Row) -> Tuple[int, ...]:
        return self.headline_seeds if row.headline else self.headline_seeds[:1]

    def iterations(self, row: Row) -> int:
        """Iterations per stage of ``row``."""
        total = self.teacher_iters if row.role == "teacher" else self.student_iters
        return max(1, total // row.stages)


_DF = "projects/DFMSD/configs/Shapes"
_MKD = "projects/MKD/configs/Shapes"

ROWS: List[Row] = [
    # teachers (weaker one: SAL stage 1 and DFMSD's box cache; stronger: everyone else's)
    Row("teacher_weak", "Teacher RetinaNet R34", "main", f"{_DF}/retinanet_R34_FPN.py", role="teacher"),
    Row("teacher_strong", "Teacher RetinaNet R50", "main", "configs/Shapes/retinanet_R50_FPN.py", role="teacher"),
    Row("student", "Student RetinaNet R18 (no distillation)", "main",
        "configs/Shapes/retinanet_R18_FPN.py", role="student", headline=True),
    # baselines the papers compare against, R50 -> R18
    *[
        Row(m, label, "main", f"configs/baselines/{m}_R50_to_R18_retinanet.py", role="baseline")
        for m, label in [("fitnet", "FitNet"), ("pkd", "PKD"), ("cwd", "CWD"), ("mgd", "MGD"),
                         ("fgd", "FGD"), ("dmkd", "DMKD")]
    ],
    Row("mkd", "MKD", "main", f"{_MKD}/mkd_R50_to_R18_retinanet.py", headline=True),
    Row("dfmsd", "DFMSD (R34 then R50)", "main", f"{_DF}/dfmsd_R34_R50_to_R18_retinanet.py",
        headline=True, stages=2),
    # MKD table 4: one term dropped at a time
    *[
        Row(f"mkd_no_{t}", f"MKD without {label}", "mkd_ablation",
            f"{_MKD}/mkd_R50_to_R18_retinanet_no_{t}.py")
        for t, label in [("multiscale", "L_Multiscale"), ("fdmd", "L_FDMD"), ("fad", "L_FAD"),
                         ("generator", "the FDMD generator")]
    ],
    # DFMSD tables 10-11 (homogeneous pair): SAL, ME, SFA switched on one by one
    Row("dfmsd_onestage", "DFMSD one stage (R50 only): ME + SFA", "dfmsd_ablation",
        f"{_DF}/dfmsd_onestage_R50_to_R18_retinanet.py"),
    *[
        Row(f"dfmsd_{p}", label, "dfmsd_ablation", f"{_DF}/ablations/table11_{p}.py",
            stages=1 if p in ("me", "sfa") else 2)
        for p, label in [("sal", "SAL"), ("me", "ME"), ("sfa", "SFA"),
                         ("sal_me", "SAL + ME"), ("sal_sfa", "SAL + SFA")]
    ],
    # instance segmentation (MKD table 2)
    Row("teacher_mask", "Teacher Mask R-CNN R50", "mask_rcnn", f"{_MKD}/mask_rcnn_R50_FPN.py",
        role="teacher", segm=True),
    Row("mask_student", "Student Mask R-CNN R18 (no distillation)", "mask_rcnn",
        f"{_MKD}/mask_rcnn_R18_FPN.py", role="student", segm=True),
    Row("mask_mkd", "MKD", "mask_rcnn", f"{_MKD}/mkd_R50_to_R18_mask_rcnn.py", segm=True),
]

_BENCH_DATA = (
    "dataloader.train.dataset.names=d2kd_shapes_bench_train",
    "dataloader.test.dataset.names=d2kd_shapes_bench_val",
)

PROFILES: Dict[str, Profile] = {
    "full": Profile(
        name="full",
        rows=tuple(r.name for r in ROWS),
        student_iters=1500,
        teacher_iters=1500,
        headline_seeds=(0, 1, 2),
        overrides=_BENCH_DATA,
        description="every row of the papers' tables, headline rows with 3 seeds",
    ),
    "quick": Profile(
        name="quick",
        rows=("teacher_weak", "teacher_strong", "student", "mkd", "dfmsd"),
        student_iters=300,
        teacher_iters=300,
        # smaller inputs than the configs' 192-256 px: about 0.6x the time per iteration
        overrides=_BENCH_DATA + (
            "dataloader.train.mapper.augmentations.0.short_edge_length=[160,176,192]",
            "dataloader.test.mapper.augmentations.0.short_edge_length=176",
        ),
        description="the README demo: two teachers, the plain student, MKD and DFMSD, one seed",
    ),
}


def row_by_name(name: str, rows: Sequence[Row] = ROWS) -> Row:
    for row in rows:
        if row.name == name:
            return row
    raise KeyError(f"Unknown benchmark row {name!r}; rows: {', '.join(r.name for r in rows)}")


def rows_for(profile: Profile, only: Sequence[str] = (), rows: Sequence[Row] = ROWS) -> List[Row]:
    """The profile's rows (``only``: a subset, with the teachers they need added by the runner)."""
    names = list(only) or list(profile.rows)
    return [row_by_name(n, rows) for n in names]


def with_overrides(row: Row, extra: Sequence[str]) -> Row:
    """``row`` with more overrides (tests shrink the models this way)."""
    return replace(row, overrides=tuple(row.overrides) + tuple(extra))
