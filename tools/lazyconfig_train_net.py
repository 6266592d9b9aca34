#!/usr/bin/env python
"""Train or evaluate a detector (plain or distilled) from a lazy config.

A structural twin of detectron2's ``tools/lazyconfig_train_net.py``: same flags
(``--config-file``, ``--resume``, ``--eval-only``, ``--num-gpus``,
``--num-machines``, ``--machine-rank``, ``--dist-url``, trailing ``key=value``
overrides), same ``do_test``/``do_train``/``main``. What d2kd adds:

- checks before anything trains (unknown config path, unknown override key,
  unregistered dataset, unreadable image, a split whose categories differ from
  the training set's or the model's, unwritable output dir, missing checkpoint
  or teacher weights, an output dir that already holds a run without
  ``--resume``, or a run of another kind, plain, staged or an evaluation, even
  with it); the warnings of these checks are added to the run's ``log.txt``
  once it exists; the model is built once before anything is written to the
  output folder, so that teacher weights that do not match the teacher config,
  levels a distiller cannot pair or a negative loss weight stop the run with the
  same clean ``Config error: ...`` exit (:mod:`d2kd.engine.build`);
- ``--eval-only`` of a distillation config evaluates its student alone (the
  teachers' checkpoints are not needed) and writes the COCO results to
  ``results.json`` in its output folder;
- ``train.device=auto`` picks CUDA when present, else the CPU;
- on a CPU-only machine ``--num-gpus N`` runs N processes with the GLOO backend.

Examples::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/retinanet_R18_FPN.py
    python tools/lazyconfig_train_net.py --config-file <cfg> --eval-only train.init_checkpoint=<pth>
"""
import json
import logging
import math
import os
import sys
from collections.abc import Mapping

try:
    import detectron2  # noqa: F401
except ImportError as e:
    sys.exit(
        f"detectron2 is not installed ({e}). Run `make setup` (a .venv with a pure-Python "
        "detectron2 v0.6), or `python tools/install_detectron2.py` in your environment, "
        "or build detectron2 from source."
    )

from d2kd.config import (
    ConfigError,
    check_datasets_registered,
    check_min_input_size,
    check_output_dir,
    check_run_folder,
    check_split_categories,
    check_train_values,
    dataset_names_in,
    load_tool_config,
    resolve_init_checkpoint,
    run_folder_kind,
)
from d2kd.config.teachers import iter_teachers
from d2kd.data import verify_images
from d2kd.data.checks import box_problems, verify_mode
from d2kd.engine.build import build_eval_model, build_model
from d2kd.engine.diagnostics import DistillDiagnostics
from d2kd.engine.hooks import (DistillWeightSchedule, LossExplosionError, LossExplosionGuard, TeacherInheritance,
                               unwrap_model)
from d2kd.engine.launch import launch
from d2kd.engine.stages import run_stages
from d2kd.modeling import PairingError, WeightsError
from d2kd.utils.env import resolve_device
from d2kd.utils.io import atomic_write_text, removing_new_empty_folders
from d2kd.utils.logger import buffered_warnings, setup_project_loggers, write_to_log_file
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog
from detectron2.engine import (
    AMPTrainer,
    SimpleTrainer,
    default_argument_parser,
    default_setup,
    default_writers,
    hooks,
)
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm

logger = logging.getLogger("detectron2")

# a total loss this many times its first value stops the run (train.loss_explosion_factor)
DEFAULT_EXPLOSION_FACTOR = 1e6


def do_test(cfg, model):
    if "evaluator" in cfg.dataloader:
        ret = inference_on_dataset(
            model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
        )
        print_csv_format(ret)
        return ret


def ddp_options(cfg):
    options = dict(cfg.train.ddp)
    if cfg.train.device == "cpu":
        options["device_ids"] = None  # DDP on CPU modules takes no device ids
    return options


def do_train(args, cfg, extra_hooks=()):
    """See detectron2's tools/lazyconfig_train_net.py; ``cfg.train`` is configs/common/train.py.

    ``extra_hooks`` are registered after the standard ones (the stage runner's).
    """
    model = instantiate(cfg.model)
    logger.info("Model:\n{}".format(model))
    model.to(cfg.train.device)

    cfg.optimizer.params.model = model
    optim = instantiate(cfg.optimizer)

    train_loader = instantiate(cfg.dataloader.train)

    model = create_ddp_model(model, **ddp_options(cfg))
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(model, train_loader, optim)
    diagnostics_period = distill_diagnostics_period(cfg, model)
    schedule = getattr(unwrap_model(model), "distill_schedule", None)
    explosion_factor = float(cfg.train.get("loss_explosion_factor", DEFAULT_EXPLOSION_FACTOR) or 0)
    checkpointer = DetectionCheckpointer(
        model,
        cfg.train.output_dir,
        optimizer=optim,
        trainer=trainer,
    )
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            # before the checkpointer: an exploded step is never saved
            LossExplosionGuard(explosion_factor) if explosion_factor else None,
            hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer)
            if comm.is_main_process()
            else None,
            hooks.EvalHook(cfg.train.eval_period, lambda: do_test(cfg, model)),
            # after the checkpointer loaded train.init_checkpoint (before_train), so the copy stays
            TeacherInheritance() if getattr(unwrap_model(model), "inherit", ()) else None,
            DistillWeightSchedule(schedule) if schedule is not None else None,
            # before the writer, so that its scalars are written in the same record
            DistillDiagnostics(diagnostics_period) if diagnostics_period else None,
            hooks.PeriodicWriter(
                default_writers(cfg.train.output_dir, cfg.train.max_iter),
                period=cfg.train.log_period,
            )
            if comm.is_main_process()
            else None,
        ]
        + list(extra_hooks)
    )

    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    if args.resume and checkpointer.has_checkpoint():
        # The checkpoint stores the training iteration that just finished, thus we start
        # at the next iteration
        start_iter = trainer.iter + 1
    else:
        start_iter = 0
    trainer.train(start_iter, cfg.train.max_iter)


def distill_diagnostics_period(cfg, model) -> int:
    """``train.distill_diagnostics_period`` (0 when absent), checked before training:
    a whole number >= 0, and above 0 only for a distillation model."""
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


TEACHER_WEIGHTS_FIX = (
    "Train the teacher first: run this tool on the teacher's own config (configs/common/"
    "teachers.py gives the commands for the bundled teachers) and use its model_final.pth"
)


def check_teacher_weights(node, key="model", name_key=lambda key: key):
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


def check_before_training(args, cfg, name_key=lambda key: key):
    """Fail fast, with a message naming the fix, on anything that would fail later.

    ``name_key`` spells a key of ``cfg`` as the user sets it: for a stage of a staged (SAL)
    run, :func:`run_stages` passes :func:`d2kd.config.stages.stage_key`, so that the weak
    first-stage teacher of DFMSD is ``stages.0.model.teachers.weights``."""
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


def eval_output_dir(output_dir: str) -> str:
    """Where ``--eval-only`` writes its config.yaml and log: ``output_dir`` itself when it
    holds no run, else its first free ``eval``, ``eval_2``, ... sub-folder, so that an
    evaluation never replaces the files of the run it evaluates."""
    def holds_run(folder):  # any kind of run: a plain or staged training run, an evaluation
        return os.path.exists(os.path.join(folder, "config.yaml")) or run_folder_kind(folder)[0] is not None

    if not holds_run(output_dir):
        return output_dir
    candidate, k = os.path.join(output_dir, "eval"), 1
    while os.path.exists(candidate):
        k += 1
        candidate = os.path.join(output_dir, f"eval_{k}")
    return candidate


RESULTS_FILE = "results.json"  # --eval-only's COCO results, in its output folder


def _finite_or_none(value):
    """JSON has no NaN: COCOEvaluator's NaN (a class without boxes) is written as null."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_eval_results(cfg, results) -> str:
    """Write ``--eval-only``'s results to ``<train.output_dir>/results.json``, atomically:
    ``{"init_checkpoint", "results": {<test dataset>: {"bbox": {"AP": ...}}}}``
    (the test loader's dataset names, joined by ``,`` when it reads several). Returns the path."""
    path = os.path.join(cfg.train.output_dir, RESULTS_FILE)
    dataset = ",".join(dataset_names_in(cfg, splits=("test",))) or "test"
    document = {
        "init_checkpoint": cfg.train.init_checkpoint,
        "results": {dataset: _finite_or_none(dict(results or {}))},
    }
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")
    return path


def main(args):
    cfg = load_tool_config(args.config_file, args.opts)  # every process: each builds its own data loader
    if "stages" in cfg and not args.eval_only:
        return run_stages(args, cfg, do_train=do_train, do_test=do_test, check=check_before_training)
    run_dir = cfg.train.output_dir
    if args.eval_only:  # every process takes the main process's choice
        cfg.train.output_dir = comm.all_gather(eval_output_dir(run_dir))[0]
    # the checks make the output folder; a run that fails before writing into it removes it
    with removing_new_empty_folders([cfg.train.output_dir]):
        run_or_evaluate(args, cfg, run_dir)


def run_or_evaluate(args, cfg, run_dir):
    """A plain run of ``cfg`` (or ``--eval-only``): the checks and the model build before
    anything is written to ``train.output_dir``, then detectron2's set-up and the training
    (or the evaluation and its ``results.json``)."""
    # the checks' warnings (odd boxes, a teacher's class count) come before log.txt exists:
    # kept, and added to it once default_setup writes it
    with buffered_warnings() as check_warnings:
        check_before_training(args, cfg)
        # the model is built before anything is written to the output folder: one that cannot be
        # built (teacher weights of another config, a negative loss weight) is a Config error
        if args.eval_only:
            model = build_eval_model(cfg.model)  # a distillation config's student: no teacher
        else:
            build_model(cfg.model)  # a check: do_train builds the model after default_setup seeds
    default_setup(cfg, args)
    setup_project_loggers(cfg.train.output_dir)
    write_to_log_file(check_warnings, cfg.train.output_dir)
    if cfg.train.output_dir != run_dir:
        logger.warning("--eval-only: %s holds a run; this evaluation's config.yaml and log go to %s",
                       run_dir, cfg.train.output_dir)

    if args.eval_only:
        model.to(cfg.train.device)
        model = create_ddp_model(model, **ddp_options(cfg))
        DetectionCheckpointer(model).load(cfg.train.init_checkpoint)
        results = do_test(cfg, model)
        print(results)
        if results is not None and comm.is_main_process():
            logger.info("Results written to %s", write_eval_results(cfg, results))
    else:
        do_train(args, cfg)


def cli(argv=None):
    args = default_argument_parser().parse_args(argv)
    try:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except ConfigError as e:
        sys.exit(f"Config error: {e}")
    except LossExplosionError as e:  # the last checkpoint is the last good one
        sys.exit(f"Training stopped: {e}")
    except (WeightsError, PairingError) as e:
        # raised by instantiate(cfg.model), before the first iteration: a teacher (or a
        # student_weights / weights_path) file that does not match its model config, or
        # distiller levels that cannot be paired; the messages name the file and the fix
        sys.exit(f"Config error: {e}")


if __name__ == "__main__":
    cli()
