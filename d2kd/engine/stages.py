"""Stage-wise training (DFMSD's SAL, but method-agnostic): the stages of a config, as data.

A config with ``stages`` trains its student in several consecutive runs, each
with its own teacher(s), distillers, data and schedule::

    stages = OmegaConf.create(
        [
            dict(name="weak", model=dict(teachers=L(Teacher)(model=..., weights=...))),
            dict(name="strong", dataloader=dict(train=dict(mapper=L(MyMapper)(...))),
                 train=dict(max_iter=3000)),
        ],
        flags={"allow_objects": True},
    )

(a ListConfig: ``LazyConfig.load`` keeps only config types, so a plain Python
list at the top level of a config file would be dropped). Interpolations
inside a stage must resolve where they are written (``LazyConfig.save``
resolves them): use absolute ones (``${dataloader.train.dataset.names}``) or
relative ones that stay inside the stage.

Each entry overrides the top-level config for its stage. Allowed keys:
``name`` and the top-level sections ``model``, ``dataloader``, ``train``,
``optimizer``, ``lr_multiplier``. An override is merged key by key into the
top-level value, except that a LazyCall node (a dict with ``_target_``) or a
non-dict replaces the value whole; so a stage may give a whole model or only
its ``teachers``.

:func:`stages_of` offers the stages of a config to the tool
(``tools/lazyconfig_train_net.py``), which trains them in order, each through its own
``do_train``: stage ``k`` (1-based) into ``<train.output_dir>/stage<k>/`` (so
checkpoints, metrics.json, TensorBoard and the evaluation hook work per stage); a
config without ``stages`` is one :class:`Stage`, the run itself. Stage k+1 starts from
the student weights at the end of stage k (its :attr:`Stage.handoff`, the rule written
once in :func:`d2kd.config.stages.handoff_checkpoint`; hook
:class:`~d2kd.engine.hooks.StudentHandoff`; the rest of the model, e.g. adapters and
generators, starts fresh, and ``model.inherit`` is not applied: the student is the previous
stage's, not the teacher's); ``train.init_checkpoint`` applies to the first stage only,
unless a stage sets its own (then there is no hand-off). A stage is finished when its
``model_final.pth`` exists; ``--resume`` skips finished stages and continues the
unfinished one. At the end a table compares the stages' evaluation results
(:func:`write_summary`: logged, and written to ``<train.output_dir>/stages_summary.{json,md}``).
The core calls nothing of the tool's.
"""
import functools
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from omegaconf import DictConfig, ListConfig

from detectron2.config import LazyConfig
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng

from ..config import ConfigError
from ..config.checks import FINAL_CHECKPOINT
from ..config.stages import handoff_checkpoint, stage_config, stage_dir_name, stage_key, stage_name
from ..config.teachers import iter_teachers
from ..utils.io import atomic_copy
from .hooks import StageBanner, StageResultWriter, StudentHandoff, write_json

__all__ = [
    "STAGE_KEYS",
    "FINAL_CHECKPOINT",
    "RESULT_FILE",
    "SUMMARY_FILE",
    "Stage",
    "stages_of",
    "stage_dir_name",
    "stage_name",
    "stage_config",
    "check_stages",
    "is_finished",
    "describe_teachers",
    "teacher_weights",
    "summary_table",
    "write_summary",
]

logger = logging.getLogger("detectron2")

STAGE_KEYS = ("name", "model", "dataloader", "train", "optimizer", "lr_multiplier")
RESULT_FILE = "stage_result.json"
SUMMARY_FILE = "stages_summary"  # .json and .md
TABLE_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def _same_key(key: str) -> str:
    return key


@dataclass
class Stage:
    """One run of a config's training: a stage of a staged (SAL) config, in its own
    sub-folder, or a config without ``stages``, the run itself (``staged=False``).

    Attributes:
        index: 0-based index of the stage.
        num_stages: how many stages the config has.
        name: the stage's ``name`` (default ``stage<k>``).
        cfg: the stage's resolved config (:func:`~d2kd.config.stages.stage_config`), with
            its own ``train.output_dir``; for a run without stages the config itself.
        handoff: the previous stage's ``model_final.pth`` whose student this stage starts
            from (:func:`~d2kd.config.stages.handoff_checkpoint`); ``""`` for none.
        staged: whether this is a stage of a staged run (its own folder, config.yaml,
            result file, a row of the summary).
        name_key: how the user spells a key of ``cfg`` (:func:`~d2kd.config.stages.stage_key`:
            ``stages.0.model.teachers.weights`` where the stage sets its own teacher).
    """

    index: int
    num_stages: int
    name: str
    cfg: DictConfig
    handoff: str = ""
    staged: bool = True
    name_key: Callable[[str], str] = field(default=_same_key, repr=False)

    @property
    def output_dir(self) -> str:
        return self.cfg.train.output_dir

    @property
    def finished(self) -> bool:
        """A stage of a staged run whose ``model_final.pth`` exists (skipped: the checks let
        the tool reach it only with ``--resume``). A run without stages is never finished
        here: with ``--resume`` detectron2's checkpointer continues it (at its end, its last
        evaluation runs again)."""
        return self.staged and is_finished(self.cfg)

    @property
    def result_path(self) -> str:
        """Where the stage's final evaluation results are written (:class:`StageResultWriter`)."""
        return os.path.join(self.output_dir, RESULT_FILE)

    @property
    def info(self) -> Dict:
        """Facts about the stage for its result file and the summary: ``{"index" (1-based),
        "name", "teacher", "iterations"}``."""
        return {
            "index": self.index + 1,
            "name": self.name,
            "teacher": describe_teachers(self.cfg.model),
            "iterations": int(self.cfg.train.max_iter),
        }

    def setup(self) -> None:
        """A stage of a staged run, about to train: seeded with its ``train.seed`` (+ rank),
        its config.yaml written into its folder (for the run itself, detectron2's
        ``default_setup`` did both)."""
        if not self.staged:
            return
        seed = int(self.cfg.train.get("seed", -1))
        seed_all_rng(None if seed < 0 else seed + comm.get_rank())
        if comm.is_main_process():
            os.makedirs(self.output_dir, exist_ok=True)
            LazyConfig.save(self.cfg, os.path.join(self.output_dir, "config.yaml"))

    def hooks(self) -> List:
        """The stage's hooks, to register after the trainer's own: its banner, the hand-off
        of the previous stage's student, its result writer (none for the run itself)."""
        if not self.staged:
            return []
        info = self.info
        hooks = [StageBanner(self.index + 1, self.num_stages, self.name, info["teacher"])]
        if self.handoff:
            hooks.append(StudentHandoff(self.handoff))
        hooks.append(StageResultWriter(self.result_path, info))
        return hooks

    def read_result(self) -> Optional[dict]:
        """The stage's result file (``{"stage", "iteration", "results"}``), None when absent."""
        if not os.path.isfile(self.result_path):
            return None
        with open(self.result_path) as f:
            return json.load(f)

    def write_result(self, results) -> None:
        """Write the result file of a finished stage evaluated afresh (``results``:
        ``do_test``'s, flattened to ``bbox/AP``-style keys), on the main process."""
        if comm.is_main_process():
            write_json(self.result_path, {"stage": self.info, "iteration": int(self.cfg.train.max_iter),
                                          "results": _flatten(results)})

    def row(self) -> Dict:
        """The stage's row of the summary, from its result file (its bbox AP is logged):
        ``{"index", "name", "teacher", "iterations", "output_dir", "results"}`` (``results``:
        flattened metrics, e.g. ``bbox/AP``; empty without a result file)."""
        results = (self.read_result() or {}).get("results", {})
        ap = results.get("bbox/AP")
        logger.info("SAL stage %d/%d (%s): bbox AP = %s", self.index + 1, self.num_stages, self.name,
                    "n/a" if ap is None else f"{ap:.2f}")
        return dict(self.info, output_dir=self.output_dir, results=results)


def stages_of(cfg) -> List[Stage]:
    """The stages of ``cfg``, in training order: with ``stages``, one :class:`Stage` per entry
    (the declaration checked: :func:`check_stages`); without, one, the run itself (its
    ``cfg`` is ``cfg``, not a copy)."""
    if "stages" not in cfg:
        return [Stage(0, 1, "", cfg, staged=False)]
    configs = check_stages(cfg)
    return [Stage(i, len(configs), stage_name(cfg, i), scfg, handoff=handoff_checkpoint(cfg, i),
                  name_key=functools.partial(stage_key, cfg, i))
            for i, scfg in enumerate(configs)]


def check_stages(cfg) -> List:
    """Validate the ``stages`` declaration; return the stage configs (see :func:`stage_config`).

    Raises :class:`~d2kd.config.ConfigError` for: ``stages`` not a non-empty
    list of dicts, an unknown key in a stage, repeated names, a stage whose
    model has no teacher, a non-positive ``train.max_iter``.
    """
    stages = cfg.get("stages", None)
    if not isinstance(stages, (ListConfig, list)) or len(stages) == 0:
        raise ConfigError(
            "`stages` must be a non-empty list of dicts, e.g. stages=[dict(name='weak', "
            "model=...), dict(name='strong', model=...)]; remove it for a single-stage run."
        )
    names = []
    for i, stage in enumerate(stages):
        if not isinstance(stage, (DictConfig, dict)):
            raise ConfigError(f"stages[{i}] must be a dict, got {type(stage).__name__}")
        unknown = [k for k in stage.keys() if k not in STAGE_KEYS]
        if unknown:
            raise ConfigError(f"stages[{i}] has unknown keys {unknown}; allowed: {list(STAGE_KEYS)}")
        names.append(stage_name(cfg, i))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"Stage names must be unique; repeated: {repeated}")
    configs = []
    for i, name in enumerate(names):
        scfg = stage_config(cfg, i)
        if not iter_teachers(scfg.get("model", None)):
            raise ConfigError(
                f"Stage {i + 1} ({name}) has no teacher: its model needs `teachers` "
                f"(set stages[{i}].model.teachers=L(Teacher)(model=..., weights=...))."
            )
        if int(scfg.train.max_iter) <= 0:
            raise ConfigError(
                f"Stage {i + 1} ({name}): train.max_iter must be > 0, got {scfg.train.max_iter}"
            )
        configs.append(scfg)
    return configs


def is_finished(stage_cfg) -> bool:
    """A stage is finished when ``<its output_dir>/model_final.pth`` exists."""
    return os.path.isfile(os.path.join(stage_cfg.train.output_dir, FINAL_CHECKPOINT))


def describe_teachers(model_cfg) -> str:
    """Short text naming a model config's teacher(s) (:func:`~d2kd.config.teachers.iter_teachers`):
    ``<meta-arch> (<weights>)``, ``<name>: <meta-arch> (<weights>); ...`` for named ones, ``-``
    without teachers."""
    teachers = iter_teachers(model_cfg)
    if not teachers:
        return "-"
    parts = []
    for _, name, teacher in teachers:
        target = teacher.get("model", {}).get("_target_", "?") if isinstance(teacher, DictConfig) else "?"
        target = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        text = f"{target.rsplit('.', 1)[-1]} ({teacher.get('weights', '?')})"
        parts.append(f"{name}: {text}" if name else text)
    return "; ".join(parts)


def summary_table(rows: List[Dict]) -> str:
    """Markdown table of the stages: index, name, teacher, iterations and COCO metrics.

    Args:
        rows: ``{"index", "name", "teacher", "iterations", "results": {"bbox/AP": ...}}``.
    """
    tasks = [t for t in ("bbox", "segm") if any(f"{t}/AP" in r["results"] for r in rows)] or ["bbox"]
    header = ["stage", "name", "teacher", "iters"] + [
        f"{t} {m}" if t != "bbox" else m for t in tasks for m in TABLE_METRICS
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [str(r["index"]), r["name"], r["teacher"], str(r["iterations"])]
        for t in tasks:
            for m in TABLE_METRICS:
                value = r["results"].get(f"{t}/{m}")
                cells.append("n/a" if value is None else f"{value:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def teacher_weights(model_cfg) -> List[str]:
    """The checkpoint paths of a model config's teacher(s) (``model.teachers``: one
    ``L(Teacher)`` or a dict of them, :func:`~d2kd.config.teachers.iter_teachers`); empty
    without teachers."""
    return [str(t.get("weights", "")) for _, _, t in iter_teachers(model_cfg)
            if isinstance(t, DictConfig) and t.get("weights", "")]


def _flatten(results) -> Dict[str, float]:
    from detectron2.evaluation.testing import flatten_results_dict

    return {k: float(v) for k, v in flatten_results_dict(results or {}).items()}


def write_summary(cfg, rows: List[Dict]) -> None:
    """The stages of ``cfg`` compared (logged, ``stages_summary.{json,md}``) and the last
    stage's final student copied to the run's own ``model_final.pth``; ``rows``:
    :meth:`Stage.row` of each stage. On the main process only."""
    table = summary_table(rows)
    logger.info("SAL stages compared:\n%s", table)
    base = os.path.join(cfg.train.output_dir, SUMMARY_FILE)
    write_json(base + ".json", {"stages": rows})
    with open(base + ".md", "w") as f:
        f.write(f"# Stages of {cfg.train.output_dir}\n\n{table}\n\n")
        f.write(f"Final student: {os.path.join(rows[-1]['output_dir'], FINAL_CHECKPOINT)}\n")
    # where detectron2 users look for a run's final model: the last stage's, linked or copied
    last = os.path.join(rows[-1]["output_dir"], FINAL_CHECKPOINT)
    if os.path.isfile(last):
        atomic_copy(last, os.path.join(cfg.train.output_dir, FINAL_CHECKPOINT))
        logger.info("Final student of the last stage: %s", os.path.join(cfg.train.output_dir, FINAL_CHECKPOINT))
