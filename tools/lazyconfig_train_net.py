#!/usr/bin/env python
"""Train or evaluate a detector (plain or distilled) from a lazy config.

A structural twin of detectron2's ``tools/lazyconfig_train_net.py``: same flags
(``--config-file``, ``--resume``, ``--eval-only``, ``--num-gpus``,
``--num-machines``, ``--machine-rank``, ``--dist-url``, trailing ``key=value``
overrides), same ``do_test``/``do_train``/``main``. What d2kd adds:

- SAL ``stages``: ``main`` trains the stages of the config in order
  (:func:`d2kd.engine.stages.stages_of`; a config without ``stages`` is one stage,
  the run itself), each through ``do_train`` into its own ``stage<k>/`` folder,
  then writes the summary that compares them;
- checks before anything trains, called once, before anything is written to the
  output folder (:mod:`d2kd.engine.checks`: unknown config path, unknown override
  key, unregistered dataset, unreadable image, a split whose categories differ from
  the training set's or the model's, unwritable output dir, missing checkpoint
  or teacher weights, an output dir that already holds a run without
  ``--resume``, or a run of another kind, plain, staged or an evaluation, even
  with it; the model built once, so that teacher weights that do not match the
  teacher config, levels a distiller cannot pair or a negative loss weight stop
  the run with the same clean ``Config error: ...`` exit); the warnings of these
  checks are added to the run's ``log.txt`` once it exists;
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

try:
    import detectron2  # noqa: F401
except ImportError as e:
    sys.exit(
        f"detectron2 is not installed ({e}). Run `make setup` (a .venv with a pure-Python "
        "detectron2 v0.6), or `python tools/install_detectron2.py` in your environment, "
        "or build detectron2 from source."
    )

from d2kd.config import ConfigError, dataset_names_in, load_tool_config, run_folder_kind
from d2kd.engine.build import build_eval_model
from d2kd.engine.checks import check_before_training, check_config, distill_diagnostics_period
from d2kd.engine.diagnostics import DistillDiagnostics
from d2kd.engine.hooks import (DistillWeightSchedule, LossExplosionError, LossExplosionGuard, StudentHandoff,
                               TeacherInheritance, unwrap_model)
from d2kd.engine.launch import launch
from d2kd.engine.resume import (LOSS_NORMALIZERS_CHECKPOINTABLE, RNG_CHECKPOINTABLE, LossNormalizers, RNGStates,
                               rng_states_kept, skip_batches, start_data_stream)
from d2kd.engine.stages import FINAL_CHECKPOINT, stages_of, write_summary
from d2kd.engine.weight_rule import (WEIGHT_RULE_CHECKPOINTABLE, DistillWeightRule, WeightRuleError,
                                     weight_rule_settings)
from d2kd.modeling import PairingError, WeightsError
from d2kd.utils.io import atomic_write_text, removing_new_empty_folders
from d2kd.utils.logger import buffered_warnings, setup_project_loggers, write_to_log_file
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
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

    ``extra_hooks`` are registered after the standard ones (a SAL stage's:
    :meth:`d2kd.engine.stages.Stage.hooks`).
    """
    model = instantiate(cfg.model)
    logger.info("Model:\n{}".format(model))
    model.to(cfg.train.device)

    cfg.optimizer.params.model = model
    optim = instantiate(cfg.optimizer)

    train_loader = instantiate(cfg.dataloader.train)

    model = create_ddp_model(model, **ddp_options(cfg))
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(model, train_loader, optim)
    start_data_stream(trainer)  # before a checkpoint is loaded: the same worker seed as a fresh run
    diagnostics_period = distill_diagnostics_period(cfg, model)  # checked before training
    schedule = getattr(unwrap_model(model), "distill_schedule", None)
    explosion_factor = float(cfg.train.get("loss_explosion_factor", DEFAULT_EXPLOSION_FACTOR) or 0)
    rng_states = RNGStates()  # saved in every checkpoint; restored by an exact resume
    rule = weight_rule_settings(cfg)  # train.distill_weight_target (checked before training)
    weight_rule = (DistillWeightRule(*rule, lambda: instantiate(cfg.dataloader.train), amp=cfg.train.amp.enabled)
                   if rule else None)
    checkpointer = DetectionCheckpointer(
        model,
        cfg.train.output_dir,
        optimizer=optim,
        trainer=trainer,
        **{RNG_CHECKPOINTABLE: rng_states, LOSS_NORMALIZERS_CHECKPOINTABLE: LossNormalizers(model)},
        **({WEIGHT_RULE_CHECKPOINTABLE: weight_rule} if weight_rule else {}),
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
            hooks.EvalHook(cfg.train.eval_period, lambda: do_periodic_test(cfg, model)),
            # after the checkpointer loaded train.init_checkpoint (before_train), so the copy stays;
            # a SAL stage handed the previous stage's student starts from it, not from the teacher
            TeacherInheritance() if getattr(unwrap_model(model), "inherit", ())
            and not any(isinstance(h, StudentHandoff) for h in extra_hooks) else None,
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
        # last: it measures the model as training starts (after the load, inheritance, a stage's hand-off)
        + [weight_rule]
    )

    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    if args.resume and checkpointer.has_checkpoint():
        # The checkpoint stores the training iteration that just finished, thus we start
        # at the next iteration
        start_iter = trainer.iter + 1
        # exact resume (d2kd.engine.resume): the stream at the checkpoint, then its random numbers
        skip_batches(trainer, start_iter)
        rng_states.restore()
    else:
        start_iter = 0
    trainer.train(start_iter, cfg.train.max_iter)


def do_periodic_test(cfg, model):
    """``do_test`` during training, leaving the random number generators as it found them:
    the checkpoint of an iteration is written before its evaluation, so that a run resumed
    from it draws what the uninterrupted run draws after the evaluation."""
    with rng_states_kept():
        return do_test(cfg, model)


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
    if args.eval_only:
        return evaluate(args, cfg)
    stages = stages_of(cfg)  # a config without `stages`: one stage, the run itself
    # the checks make the output folders; a run that fails before writing into them removes them
    with removing_new_empty_folders([cfg.train.output_dir] + [s.output_dir for s in stages if s.staged]):
        # the checks' warnings (odd boxes, a teacher's class count) come before log.txt exists:
        # kept, and added to it once default_setup writes it
        with buffered_warnings() as check_warnings:
            check_before_training(args, cfg, stages)
        default_setup(cfg, args)
        setup_project_loggers(cfg.train.output_dir)
        write_to_log_file(check_warnings, cfg.train.output_dir)
        rows = []
        for stage in stages:
            if stage.finished:  # only with --resume: the checks refuse a folder holding a run
                logger.info("SAL stage %d/%d (%s) is finished (%s exists): skipped",
                            stage.index + 1, stage.num_stages, stage.name, FINAL_CHECKPOINT)
                if stage.read_result() is None:  # never written, e.g. a crash in its final evaluation
                    model = instantiate(stage.cfg.model).to(stage.cfg.train.device)
                    DetectionCheckpointer(model).load(os.path.join(stage.output_dir, FINAL_CHECKPOINT))
                    stage.write_result(do_test(stage.cfg, model))
            else:
                stage.setup()  # a stage's seed and config.yaml (the run's own: default_setup's)
                do_train(args, stage.cfg, extra_hooks=stage.hooks())
            if stage.staged:
                comm.synchronize()
                rows.append(stage.row())
    if rows and comm.is_main_process():
        write_summary(cfg, rows)


def evaluate(args, cfg):
    """``--eval-only``: the checks and the model build before anything is written to the
    output folder (:func:`eval_output_dir`), then detectron2's set-up, the evaluation and its
    ``results.json``."""
    run_dir = cfg.train.output_dir
    cfg.train.output_dir = comm.all_gather(eval_output_dir(run_dir))[0]  # the main process's choice
    # the checks make the output folder; an evaluation that fails before writing into it removes it
    with removing_new_empty_folders([cfg.train.output_dir]):
        with buffered_warnings() as check_warnings:
            check_config(args, cfg)
            model = build_eval_model(cfg.model)  # a distillation config's student: no teacher
        default_setup(cfg, args)
        setup_project_loggers(cfg.train.output_dir)
        write_to_log_file(check_warnings, cfg.train.output_dir)
        if cfg.train.output_dir != run_dir:
            logger.warning("--eval-only: %s holds a run; this evaluation's config.yaml and log go to %s",
                           run_dir, cfg.train.output_dir)
        model.to(cfg.train.device)
        model = create_ddp_model(model, **ddp_options(cfg))
        DetectionCheckpointer(model).load(cfg.train.init_checkpoint)
        results = do_test(cfg, model)
        print(results)
        if results is not None and comm.is_main_process():
            logger.info("Results written to %s", write_eval_results(cfg, results))


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
    except WeightRuleError as e:  # train.distill_weight_target, before the first iteration
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
