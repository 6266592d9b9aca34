"""The checks before a run: everything that would fail later, stopped with a message naming
the fix before anything is written to the output folder.

``tools/lazyconfig_train_net.py`` calls :func:`check_before_training` once for a training
run (every stage of a staged one) and :func:`check_config` for ``--eval-only``. They check:
the device, ``train.init_checkpoint`` (a run folder means its weights), the teachers'
weights files, the ``train`` values, the output folders (writable; one that holds a run of
another kind, or any run without ``--resume``, is refused), the smallest input size, the
datasets (registered, readable images, the categories of every split against the training
set's and the student's), and that each model (and a stage's train mapper) can be built.
Their warnings (odd boxes, a teacher's class count) are logged; the tool keeps them for
the run's ``log.txt``. The pure config checks they use live in :mod:`d2kd.config.checks`.
"""
import copy
import logging
import os
from collections.abc import Mapping
from typing import Callable, Dict, Sequence

from omegaconf import DictConfig

from detectron2.config import instantiate
from detectron2.data import DatasetCatalog
from detectron2.utils import comm

from ..config import (
    ConfigError,
    check_datasets_registered,
    check_min_input_size,
    check_output_dir,
    check_run_folder,
    check_split_categories,
    check_train_values,
    dataset_names_in,
    resolve_init_checkpoint,
)
from ..config.teachers import iter_teachers
from ..data import verify_images
from ..data.checks import box_problems, verify_mode
from ..modeling.checkpoint import WeightsError
from ..utils.env import resolve_device
from .build import build_model
from .hooks import unwrap_model
from .weight_rule import check_rule_resume, weight_rule_settings
from .stages import Stage, is_finished, teacher_weights

__all__ = [
    "TEACHER_WEIGHTS_FIX",
    "check_before_training",
    "check_config",
    "check_teacher_weights",
    "distill_diagnostics_period",
    "load_dataset_dicts",
]

logger = logging.getLogger("detectron2")

TEACHER_WEIGHTS_FIX = (
    "Train the teacher first: run this tool on the teacher's own config (configs/common/"
    "teachers.py gives the commands for the bundled teachers) and use its model_final.pth"
)


def check_before_training(args, cfg, stages: Sequence[Stage]) -> None:
    """Every check of a training run of ``cfg``, whose stages are ``stages``
    (:func:`~d2kd.engine.stages.stages_of`), before anything trains: :func:`check_config`
    of each stage's config (a stage's errors start with ``Stage k (name): ``), then each
    model built once on the CPU (:func:`~d2kd.engine.build.build_model`; for a staged run
    each unfinished stage's model and train mapper, which must all train the same
    student). These builds are checks only, made before anything is written to the output
    folder: ``do_train`` builds the model again once the run (or stage) is seeded, so that
    its initial weights come from ``train.seed`` as in detectron2's tool.

    Sets ``train.device`` and ``train.init_checkpoint`` of each stage's config (resolved);
    makes the output folders.
    """
    if not stages[0].staged:
        check_config(args, cfg)
        model = build_model(cfg.model)
        distill_diagnostics_period(cfg, model)
        weight_rule_settings(cfg, model)
        return
    check_output_dir(cfg.train.output_dir)
    # a plain run's folder (or an evaluation's) is refused before a stage writes into it
    check_run_folder(cfg.train.output_dir, "staged", resume=bool(getattr(args, "resume", False)))
    for stage in stages:
        try:
            check_config(args, stage.cfg, stage.name_key)
        except ConfigError as e:
            raise ConfigError(f"Stage {stage.index + 1} ({stage.name}): {e}") from e
    _check_stage_builds(stages)


def distill_diagnostics_period(cfg, model) -> int:
    """``train.distill_diagnostics_period`` of ``cfg`` (0 when absent), checked: a whole
    number >= 0, and above 0 only when ``model`` (built from ``cfg.model``) is a
    distillation model."""
    period = cfg.train.get("distill_diagnostics_period", 0) or 0
    if isinstance(period, bool) or not isinstance(period, int) or period < 0:
        raise ConfigError(
            f"train.distill_diagnostics_period={period!r}: give a whole number of iterations "
            "(0 turns the diagnostics off)"
        )
    inner = unwrap_model(model)
    if period and not hasattr(inner, "student_loss_keys"):
        raise ConfigError(
            f"train.distill_diagnostics_period={period} measures distillation losses, but the model "
            f"is a plain {type(inner).__name__}; set train.distill_diagnostics_period=0"
        )
    return period


def check_config(args, cfg, name_key: Callable[[str], str] = lambda key: key) -> None:
    """Fail fast, with a message naming the fix, on anything in the config of one run
    (a plain run, one stage of a staged run, or ``--eval-only``) that would fail later.

    ``name_key`` spells a key of ``cfg`` as the user sets it: for a stage of a staged (SAL)
    run, :attr:`Stage.name_key <d2kd.engine.stages.Stage>`
    (:func:`d2kd.config.stages.stage_key`), so that the weak first-stage teacher of DFMSD is
    ``stages.0.model.teachers.weights``."""
    try:
        cfg.train.device = resolve_device(cfg.train.get("device", None))
    except ValueError as e:
        raise ConfigError(str(e)) from e
    if cfg.train.amp.enabled and not cfg.train.device.startswith("cuda"):
        raise ConfigError(
            "train.amp.enabled=True needs a CUDA device (detectron2's AMPTrainer); "
            "pass train.amp.enabled=False to train on the CPU."
        )
    init = cfg.train.init_checkpoint
    if args.eval_only and not init:
        raise ConfigError("--eval-only needs the weights to evaluate: train.init_checkpoint=<.pth>")
    # a run's folder means its model_final.pth, else its latest checkpoint
    cfg.train.init_checkpoint = resolve_init_checkpoint(init)
    if cfg.train.init_checkpoint != init:
        logger.warning("train.init_checkpoint=%s is a run folder: loading %s", init, cfg.train.init_checkpoint)
    if not args.eval_only:  # evaluation runs the student alone: no teacher is built
        check_teacher_weights(cfg.model, name_key=name_key)
    check_train_values(cfg)
    check_output_dir(cfg.train.output_dir)
    check_min_input_size(cfg)
    if not args.eval_only:  # a plain run, or one stage of a staged run (its folder is a plain run's)
        check_run_folder(cfg.train.output_dir, "plain", resume=args.resume)
        check_rule_resume(cfg, args.resume)  # train.distill_weight_target as the run started
    split_names = [(split, name) for split in (("test",) if args.eval_only else ("train", "test"))
                   for name in dataset_names_in(cfg, splits=(split,))]
    names = list(dict.fromkeys(name for _, name in split_names))
    check_datasets_registered(names)
    logged = set()
    classes_checked = _check_classes(cfg, split_names, logged)  # every process: a wrong student stops them all
    try:
        mode = verify_mode()
    except ValueError as e:
        raise ConfigError(str(e)) from e
    if mode == "off" or not comm.is_main_process():
        return  # the images are the main process's to verify: once a launch (a SAL run: a stage)
    for name in names:
        records = load_dataset_dicts(name)
        try:
            verify_images(records, mode=mode)
        except ValueError as e:
            raise ConfigError(f"Dataset {name!r}: {e}") from e
        for problem in box_problems(records):
            logger.warning("Dataset %r: %s", name, problem)
    if not classes_checked:  # the categories of a COCO json are known once it was read
        _check_classes(cfg, split_names, logged)


def check_teacher_weights(node, key="model", name_key=lambda key: key) -> None:
    """Every teacher of the model config ``node`` (named ``key``; its ``teachers``:
    :func:`~d2kd.config.teachers.iter_teachers`) names an existing ``weights`` file; the
    message names each key as ``name_key`` spells it (a SAL stage's:
    :func:`d2kd.config.stages.stage_key`)."""
    for teacher_key, _, teacher in iter_teachers(node, key):
        if not isinstance(teacher, Mapping):
            continue  # not a teacher node: building the model says what is wrong
        weights_key = name_key(f"{teacher_key}.weights")
        weights = teacher.get("weights", None)
        if not weights:
            raise ConfigError(f"{weights_key} is not set. {TEACHER_WEIGHTS_FIX}: {weights_key}=<path>.")
        if "://" not in str(weights) and not os.path.isfile(str(weights)):
            raise ConfigError(
                f"Teacher weights {weights_key}={str(weights)!r} do not exist. "
                f"{TEACHER_WEIGHTS_FIX}, or pass {weights_key}=<path> of an existing checkpoint."
            )


def load_dataset_dicts(name):
    """``DatasetCatalog.get(name)``; an annotation whose category id is not among the
    json's ``categories`` (detectron2's KeyError) is a ConfigError naming the fix."""
    try:
        return DatasetCatalog.get(name)
    except KeyError as e:
        raise ConfigError(
            f"Dataset {name!r}: {e.args[0] if e.args else e}. Add that category to the json's "
            "\"categories\" or remove its annotations."
        ) from e


def _check_classes(cfg, split_names, logged) -> bool:
    """check_split_categories of the splits whose categories are known: the student's
    num_classes against the training set, every other split's categories against the
    training set's (``--eval-only``: the test set's against the model's); logs the
    teachers' differences once (``logged``); returns whether every split was checked."""
    complete, warnings = check_split_categories(cfg, split_names)
    for warning in warnings:
        if warning not in logged:
            logger.warning(warning)
            logged.add(warning)
    return complete


def _check_stage_builds(stages: Sequence[Stage]) -> None:
    """Build every unfinished stage's model and train mapper (:func:`_check_stage_build`) and
    check that all of them train the same student."""
    shapes = {}
    for stage in stages:
        if not is_finished(stage.cfg):
            previous = teacher_weights(stages[stage.index - 1].cfg.model) if stage.index > 0 else []
            shapes[stage.index] = _check_stage_build(stage, previous)
    first = next(iter(shapes), None)
    for i, student in shapes.items():
        if student != shapes[first]:
            raise ConfigError(
                f"Stage {i + 1} ({stages[i].name}) trains another student than stage {first + 1} "
                f"({stages[first].name}); all stages must share the student architecture."
            )


def _check_stage_build(stage: Stage, previous_teachers: Sequence[str] = ()) -> Dict[str, tuple]:
    """Instantiate the stage's model (teachers load their weights; errors as
    :func:`~d2kd.engine.build.build_model`'s, naming each key as the user sets it:
    :attr:`Stage.name_key`) and train mapper on the CPU, so that their own checks run before
    anything trains. A mapper that depends on the previous stage's teacher (DFMSD's box
    cache of its detections) declares ``check_previous_teacher(weights_paths)`` and is given
    ``previous_teachers``. Returns the student's state-dict shapes."""
    prefix = f"Stage {stage.index + 1} ({stage.name})"
    try:
        model = build_model(copy.deepcopy(stage.cfg.model), name_key=stage.name_key)
    except ConfigError as e:
        weights = e.__cause__ if isinstance(e.__cause__, WeightsError) else None
        hint = (" Train that teacher first with its own config (the stage config's docstring names the command)."
                if weights is not None and weights.file_num_classes is None and not weights.from_distillation else "")
        raise ConfigError(f"{prefix}: {e}{hint}") from e
    try:
        distill_diagnostics_period(stage.cfg, model)
        weight_rule_settings(stage.cfg, model)
    except ConfigError as e:
        raise ConfigError(f"{prefix}: {e}") from e
    try:
        loader = stage.cfg.get("dataloader", {}).get("train", {})
        if isinstance(loader, DictConfig) and "mapper" in loader:
            mapper = instantiate(copy.deepcopy(loader.mapper))
            if previous_teachers and hasattr(mapper, "check_previous_teacher"):
                mapper.check_previous_teacher(list(previous_teachers))
    except ConfigError:
        raise
    except WeightsError as e:
        raise ConfigError(
            f"{prefix}: {e} Train that teacher first with its own config "
            "(the stage config's docstring names the command)."
        ) from e
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise ConfigError(f"{prefix}: {type(e).__name__}: {e}") from e
    student = getattr(model, "student", model)
    return {k: tuple(v.shape) for k, v in student.state_dict().items()}
