"""Stage-wise training (DFMSD's SAL, but method-agnostic): a config may declare ``stages``.

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

:func:`run_stages` trains stage ``k`` (1-based) into
``<train.output_dir>/stage<k>/`` through the tool's own ``do_train`` (so
checkpoints, metrics.json, TensorBoard and the evaluation hook work per
stage). Stage k+1 starts from the student weights at the end of stage k (hook
:class:`~d2kd.engine.hooks.StudentHandoff`; the rest of the model, e.g.
adapters and generators, starts fresh); ``train.init_checkpoint`` applies to
the first stage only, unless a stage sets its own (then there is no hand-off).
A stage is finished when its ``model_final.pth`` exists; ``--resume`` skips
finished stages and continues the unfinished one. At the end a table compares
the stages' evaluation results (logged, and written to
``<train.output_dir>/stages_summary.{json,md}``).
"""
import copy
import functools
import json
import logging
import os
from typing import Callable, Dict, List, Optional, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from detectron2.engine import default_setup
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng

from ..config import ConfigError, check_output_dir, check_run_folder
from ..config.stages import stage_config, stage_dir_name, stage_key, stage_name
from ..config.teachers import iter_teachers
from ..modeling.checkpoint import WeightsError
from ..utils.env import resolve_device
from ..utils.io import atomic_copy, removing_new_empty_folders
from ..utils.logger import buffered_warnings, setup_project_loggers, write_to_log_file
from .build import build_model
from .hooks import StageBanner, StageResultWriter, StudentHandoff, write_json

__all__ = [
    "STAGE_KEYS",
    "FINAL_CHECKPOINT",
    "RESULT_FILE",
    "SUMMARY_FILE",
    "stage_dir_name",
    "stage_name",
    "stage_config",
    "check_stages",
    "is_finished",
    "describe_teachers",
    "summary_table",
    "run_stages",
]

logger = logging.getLogger("detectron2")

STAGE_KEYS = ("name", "model", "dataloader", "train", "optimizer", "lr_multiplier")
FINAL_CHECKPOINT = "model_final.pth"
RESULT_FILE = "stage_result.json"
SUMMARY_FILE = "stages_summary"  # .json and .md
TABLE_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def _hands_off(cfg, index: int) -> bool:
    if index == 0:
        return False
    train = cfg.stages[index].get("train", None)
    return not (train is not None and "init_checkpoint" in train)


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


def _read_json(path: str) -> Optional[dict]:
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


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


def _validate_builds(cfg, index: int, name: str, scfg, previous_teachers: Sequence[str] = ()) -> Dict[str, tuple]:
    """Instantiate stage ``index``'s model (teachers load their weights; errors as
    :func:`~d2kd.engine.build.build_model`'s, naming each key as the user sets it:
    :func:`~d2kd.config.stages.stage_key`) and train mapper on the CPU, so that their
    own checks run before anything trains. A mapper that depends on
    the previous stage's teacher (DFMSD's box cache of its detections) declares
    ``check_previous_teacher(weights_paths)`` and is given ``previous_teachers``.
    Returns the student's state-dict shapes."""
    try:
        model = build_model(copy.deepcopy(scfg.model), name_key=functools.partial(stage_key, cfg, index))
    except ConfigError as e:
        weights = e.__cause__ if isinstance(e.__cause__, WeightsError) else None
        hint = (" Train that teacher first with its own config (the stage config's docstring names the command)."
                if weights is not None and weights.file_num_classes is None and not weights.from_distillation else "")
        raise ConfigError(f"Stage {index + 1} ({name}): {e}{hint}") from e
    try:
        loader = scfg.get("dataloader", {}).get("train", {})
        if isinstance(loader, DictConfig) and "mapper" in loader:
            mapper = instantiate(copy.deepcopy(loader.mapper))
            if previous_teachers and hasattr(mapper, "check_previous_teacher"):
                mapper.check_previous_teacher(list(previous_teachers))
    except ConfigError:
        raise
    except WeightsError as e:
        raise ConfigError(
            f"Stage {index + 1} ({name}): {e} Train that teacher first with its own config "
            "(the stage config's docstring names the command)."
        ) from e
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise ConfigError(f"Stage {index + 1} ({name}): {type(e).__name__}: {e}") from e
    student = getattr(model, "student", model)
    return {k: tuple(v.shape) for k, v in student.state_dict().items()}


def _evaluate_final(scfg, do_test) -> Optional[dict]:
    """Evaluate a finished stage's model_final.pth (its result file was never written)."""
    model = instantiate(scfg.model)
    model.to(scfg.train.device)
    DetectionCheckpointer(model).load(os.path.join(scfg.train.output_dir, FINAL_CHECKPOINT))
    return do_test(scfg, model)


def _flatten(results) -> Dict[str, float]:
    from detectron2.evaluation.testing import flatten_results_dict

    return {k: float(v) for k, v in flatten_results_dict(results or {}).items()}


def run_stages(
    args,
    cfg,
    *,
    do_train: Callable,
    do_test: Optional[Callable] = None,
    check: Optional[Callable] = None,
    extra_hooks: Optional[Callable] = None,
    validate_models: bool = True,
) -> List[Dict]:
    """Train the stages of ``cfg`` in order (see the module docstring).

    Args:
        args: the tool's parsed arguments (``resume`` is used).
        cfg: a lazy config with ``stages``.
        do_train: ``do_train(args, stage_cfg, extra_hooks=[...])`` of the tool; it
            must register the given hooks after its own (so after ``EvalHook``).
        do_test: ``do_test(cfg, model)`` of the tool; used to evaluate a finished
            stage whose result file is missing.
        check: ``check(args, stage_cfg, name_key)``, the tool's checks before training;
            run for every stage before the first one trains. ``name_key(key)`` spells a
            key of ``stage_cfg`` as the user sets it, for the messages
            (:func:`~d2kd.config.stages.stage_key`: ``stages.0.model.teachers.weights``
            where the stage sets its own teacher, ``model.teachers.weights`` where it
            takes the top level's).
        extra_hooks: optional ``f(index, stage_cfg) -> list of hooks`` added to
            each stage's trainer (0-based index) after the runner's own hooks.
        validate_models: also build every unfinished stage's model and train
            mapper once before training (teacher weights, box caches and the
            teacher that made them, ...).

    Returns:
        one row per stage: ``{"index", "name", "teacher", "iterations",
        "output_dir", "results"}`` (``results``: flattened metrics, e.g. ``bbox/AP``).

    A run that fails leaves no empty folder behind: the run's folder and the stage
    folders that the checks made (``check_output_dir``) and that no stage wrote into yet
    are removed when the error goes on (a stage folder is written when its stage starts).
    """
    configs = check_stages(cfg)
    names = [stage_name(cfg, i) for i in range(len(configs))]
    folders = [cfg.train.output_dir] + [scfg.train.output_dir for scfg in configs]
    with removing_new_empty_folders(folders):
        check_warnings = _check_stages_before_training(args, cfg, configs, names, check, validate_models)
        default_setup(cfg, args)
        setup_project_loggers(cfg.train.output_dir)
        write_to_log_file(check_warnings, cfg.train.output_dir)
        rows = [_run_stage(args, cfg, configs, names, i, do_train, do_test, extra_hooks)
                for i in range(len(configs))]
    if comm.is_main_process():
        _write_summary(cfg, configs, rows)
    return rows


def _check_stages_before_training(args, cfg, configs, names, check, validate_models) -> List:
    """Every check of a staged run before anything trains (see :func:`run_stages`); returns
    the checks' warnings, kept for the run's log.txt, which does not exist yet."""
    check_output_dir(cfg.train.output_dir)
    # a plain run's folder (or an evaluation's) is refused before a stage writes into it
    check_run_folder(cfg.train.output_dir, "staged", resume=bool(getattr(args, "resume", False)))
    # the checks' warnings (odd boxes, a teacher's class count) come before log.txt exists:
    # kept, and added to it once default_setup writes it
    with buffered_warnings() as check_warnings:
        for i, scfg in enumerate(configs):
            try:
                scfg.train.device = resolve_device(scfg.train.get("device", None))
            except ValueError as e:
                raise ConfigError(str(e)) from e
            if check is not None:
                try:
                    check(args, scfg, functools.partial(stage_key, cfg, i))
                except ConfigError as e:
                    raise ConfigError(f"Stage {i + 1} ({names[i]}): {e}") from e
        if validate_models:
            _validate_stage_builds(cfg, configs, names)
    return check_warnings


def _validate_stage_builds(cfg, configs, names) -> None:
    """Build every unfinished stage's model and train mapper (:func:`_validate_builds`) and
    check that all of them train the same student."""
    shapes = {}
    for i, scfg in enumerate(configs):
        if not is_finished(scfg):
            previous = teacher_weights(configs[i - 1].model) if i > 0 else []
            shapes[i] = _validate_builds(cfg, i, names[i], scfg, previous)
    first = next(iter(shapes), None)
    for i, student in shapes.items():
        if student != shapes[first]:
            raise ConfigError(
                f"Stage {i + 1} ({names[i]}) trains another student than stage {first + 1} "
                f"({names[first]}); all stages must share the student architecture."
            )


def _run_stage(args, cfg, configs, names, i, do_train, do_test, extra_hooks) -> Dict:
    """Train stage ``i`` (0-based) into its folder, or skip it when it is finished (evaluating
    its final model when its result file is missing); returns its row of the summary."""
    num, scfg = len(configs), configs[i]
    out = scfg.train.output_dir
    result_path = os.path.join(out, RESULT_FILE)
    info = {
        "index": i + 1,
        "name": names[i],
        "teacher": describe_teachers(scfg.model),
        "iterations": int(scfg.train.max_iter),
    }
    if is_finished(scfg):
        logger.info(
            "SAL stage %d/%d (%s) is finished (%s exists): skipped", i + 1, num, names[i], FINAL_CHECKPOINT
        )
        document = _read_json(result_path)
        if document is None and do_test is not None:
            document = {
                "stage": info,
                "iteration": info["iterations"],
                "results": _flatten(_evaluate_final(scfg, do_test)),
            }
            if comm.is_main_process():
                write_json(result_path, document)
    else:
        seed = int(scfg.train.get("seed", -1))
        seed_all_rng(None if seed < 0 else seed + comm.get_rank())
        if comm.is_main_process():
            os.makedirs(out, exist_ok=True)
            LazyConfig.save(scfg, os.path.join(out, "config.yaml"))
        hooks = [StageBanner(i + 1, num, names[i], info["teacher"])]
        if _hands_off(cfg, i):
            hooks.append(StudentHandoff(os.path.join(configs[i - 1].train.output_dir, FINAL_CHECKPOINT)))
        hooks.append(StageResultWriter(result_path, info))
        if extra_hooks is not None:
            hooks.extend(extra_hooks(i, scfg))
        do_train(args, scfg, extra_hooks=hooks)
        comm.synchronize()
        document = _read_json(result_path) if comm.is_main_process() else None
    results = (document or {}).get("results", {})
    ap = results.get("bbox/AP")
    logger.info(
        "SAL stage %d/%d (%s): bbox AP = %s", i + 1, num, names[i], "n/a" if ap is None else f"{ap:.2f}"
    )
    return dict(info, output_dir=out, results=results)


def _write_summary(cfg, configs, rows) -> None:
    """The stages compared (logged, ``stages_summary.{json,md}``) and the last stage's final
    student copied to the run's own ``model_final.pth``."""
    table = summary_table(rows)
    logger.info("SAL stages compared:\n%s", table)
    base = os.path.join(cfg.train.output_dir, SUMMARY_FILE)
    write_json(base + ".json", {"stages": rows})
    with open(base + ".md", "w") as f:
        f.write(f"# Stages of {cfg.train.output_dir}\n\n{table}\n\n")
        f.write(f"Final student: {os.path.join(configs[-1].train.output_dir, FINAL_CHECKPOINT)}\n")
    # where detectron2 users look for a run's final model: the last stage's, linked or copied
    last = os.path.join(configs[-1].train.output_dir, FINAL_CHECKPOINT)
    if os.path.isfile(last):
        atomic_copy(last, os.path.join(cfg.train.output_dir, FINAL_CHECKPOINT))
        logger.info("Final student of the last stage: %s", os.path.join(cfg.train.output_dir, FINAL_CHECKPOINT))
