"""Training hooks for distillation runs, in the style of detectron2's ``engine/hooks.py``.

Each hook does one thing; its docstring says when it runs. ``tools/lazyconfig_train_net.py``'s
``do_train`` registers them into the trainer it builds (a SAL stage's own:
:meth:`d2kd.engine.stages.Stage.hooks`).
"""
import json
import logging
import os
from typing import Dict, Optional, Sequence

import torch
from torch.nn.parallel import DistributedDataParallel

from detectron2.engine import HookBase
from detectron2.utils import comm

from ..modeling.checkpoint import STUDENT_PREFIX, read_state_dict

__all__ = ["EVAL_TASKS", "unwrap_model", "StageBanner", "StudentHandoff", "TeacherInheritance",
           "DistillWeightSchedule", "LossExplosionGuard", "StageResultWriter"]

logger = logging.getLogger(__name__)

# prefixes of the flattened evaluation results that EvalHook puts into the event storage
EVAL_TASKS = ("bbox", "segm", "keypoints", "sem_seg", "panoptic_seg")


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DDP (the model itself otherwise)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


class StageBanner(HookBase):
    """Logs which SAL stage is training.

    Runs in ``before_train`` (one line: stage index, name, teacher, iterations)
    and ``after_train`` (the stage's end).

    Args:
        index: 1-based stage index.
        num_stages: number of stages of the run.
        name: the stage's name.
        description: free text, e.g. the teacher's weights file.
    """

    def __init__(self, index: int, num_stages: int, name: str, description: str = ""):
        self._index = index
        self._num_stages = num_stages
        self._name = name
        self._description = description

    def before_train(self):
        start = self.trainer.start_iter
        logger.info(
            "SAL stage %d/%d (%s) %s iterations %d..%d%s",
            self._index,
            self._num_stages,
            self._name,
            "starts:" if start == 0 else "resumes:",
            start,
            self.trainer.max_iter,
            f"; {self._description}" if self._description else "",
        )

    def after_train(self):
        logger.info(
            "SAL stage %d/%d (%s) ended at iteration %d",
            self._index, self._num_stages, self._name, self.trainer.iter,
        )


class StudentHandoff(HookBase):
    """Starts a stage from the student weights of the previous stage.

    Runs in ``before_train``, after the checkpointer has loaded (or not) the
    stage's own checkpoint. When the stage starts from iteration 0 (not a
    resume), it loads the ``student.*`` weights of ``checkpoint`` into
    ``model.student`` of the (DDP-unwrapped) model being trained. Every student
    key must match (same student architecture in all stages); nothing else is
    carried: adapters, generators and other distillation modules keep their
    fresh initialisation, as the teacher changed. ``model.inherit`` is not applied to
    such a stage (the tool's ``do_train`` registers no :class:`TeacherInheritance`
    beside this hook): its student is the previous stage's, not the teacher's, and the
    log says so. On a resumed stage
    (``start_iter > 0``) the stage's own checkpoint already holds everything,
    and this hook does nothing.

    Args:
        checkpoint: the previous stage's ``model_final.pth``.

    Attributes:
        loaded_keys: student keys loaded (empty until it ran, or on resume).
    """

    def __init__(self, checkpoint: str):
        self._checkpoint = checkpoint
        self.loaded_keys: Sequence[str] = ()

    def before_train(self):
        if self.trainer.start_iter > 0:
            logger.info("Stage resumed at iteration %d: student hand-off skipped", self.trainer.start_iter)
            return
        student = unwrap_model(self.trainer.model).student
        state = read_state_dict(self._checkpoint)  # student.* keys, prefix stripped
        own = student.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        if missing or unexpected or mismatched:
            raise ValueError(
                f"The student of {self._checkpoint!r} does not fit this stage's student "
                f"(missing {missing[:5]}, unexpected {unexpected[:5]}, other shape {mismatched[:5]}); "
                "every stage must train the same student architecture."
            )
        student.load_state_dict(state, strict=True)
        self.loaded_keys = sorted(STUDENT_PREFIX + k for k in state)
        logger.info("Student initialised from %s (%d tensors)", self._checkpoint, len(state))
        inherit = getattr(unwrap_model(self.trainer.model), "inherit", ())
        if inherit:
            logger.info("model.inherit=%s not applied: the student comes from the previous stage", list(inherit))


class TeacherInheritance(HookBase):
    """Copies the teacher's weights into the student modules named by ``model.inherit``.

    Runs in ``before_train``, after the checkpointer has loaded ``train.init_checkpoint``
    (which would otherwise overwrite the copy). When training starts from iteration 0,
    it calls :meth:`~d2kd.modeling.DistillationDetector.inherit_from_teacher` on the
    (DDP-unwrapped) model, which every process does alike, and logs what was copied.
    A resumed run (``start_iter > 0``) keeps its checkpoint's weights: nothing is copied.
    Not registered for a SAL stage whose student is handed over from the previous stage
    (:class:`StudentHandoff`, which would overwrite the copy).

    Attributes:
        copied_keys: student keys copied (empty until it ran, or on resume).
    """

    def __init__(self):
        self.copied_keys: Sequence[str] = ()

    def before_train(self):
        model = unwrap_model(self.trainer.model)
        if self.trainer.start_iter > 0:
            logger.info("Run resumed at iteration %d: inheritance from the teacher skipped",
                        self.trainer.start_iter)
            return
        self.copied_keys = model.inherit_from_teacher()


class DistillWeightSchedule(HookBase):
    """Sets the factor of every distillation loss from ``model.distill_schedule``.

    Runs in ``before_step``: ``model.distill_weight_scale = schedule(iter / max_iter)``
    on the (DDP-unwrapped) :class:`~d2kd.modeling.DistillationDetector`, the progress
    detectron2's ``LRMultiplier`` gives the learning-rate schedule (a SAL stage has its
    own), and puts it into the event storage as ``distill_weight_scale``.

    Args:
        schedule: an fvcore ``ParamScheduler``, called with the progress in [0, 1).
    """

    def __init__(self, schedule):
        self._schedule = schedule

    def before_step(self):
        scale = float(self._schedule(self.trainer.iter / self.trainer.max_iter))
        if not scale >= 0:  # also catches NaN
            raise ValueError(f"model.distill_schedule gave {scale} at iteration {self.trainer.iter}; "
                             "a loss factor must be >= 0")
        unwrap_model(self.trainer.model).distill_weight_scale = scale
        self.trainer.storage.put_scalar("distill_weight_scale", scale, smoothing_hint=False)


class LossExplosionError(FloatingPointError):
    """The total loss grew past its allowed multiple of its first value."""


class LossExplosionGuard(HookBase):
    """Stops a run whose loss explodes without becoming NaN (detectron2 stops at NaN itself).

    Runs in ``after_step``, before the checkpointer's (register it earlier): it reads the
    ``total_loss`` the trainer put into the event storage for this step, keeps the first
    one, and raises :class:`LossExplosionError` when a later one exceeds ``factor`` times
    it. The checkpointer does not save that step; the loss of step k is computed with the
    weights of step k - 1, so the last checkpoint is from before the step the guard saw,
    usually the last good one. Under DDP only the main process sees the total loss (as
    for detectron2's own NaN check): it stops, and the others wait until their timeout.

    Args:
        factor: allowed multiple of the first total loss (> 1).
    """

    def __init__(self, factor: float):
        if not factor > 1:
            raise ValueError(f"LossExplosionGuard factor must be > 1, got {factor}")
        self._factor = float(factor)
        self._first: Optional[float] = None

    def after_step(self):
        history = self.trainer.storage.histories().get("total_loss")
        if history is None:
            return
        loss = float(history.latest())
        if self._first is None:
            self._first = loss
            return
        if self._first > 0 and loss > self._factor * self._first:
            raise LossExplosionError(
                f"total_loss {loss:.4g} at iteration {self.trainer.iter} is more than "
                f"{self._factor:g} x its first value {self._first:.4g}: the run is diverging. Lower the "
                "distillation weights (tools/loss_scale.py, train.distill_diagnostics_period) and continue "
                "with --resume; to lower the learning rate, start a new run from the last checkpoint "
                "(train.init_checkpoint=<it>: a resumed run keeps the rates it saved). "
                "+train.loss_explosion_factor=0 turns this check off."
            )


class StageResultWriter(HookBase):
    """Writes a stage's final evaluation results to a JSON file.

    Runs in ``after_train``, after detectron2's ``EvalHook`` (register it
    later): when the stage completed (``iter >= max_iter``), it reads the
    latest evaluation scalars from the event storage (keys starting with one
    of :data:`EVAL_TASKS`, e.g. ``bbox/AP``) and writes, on the main process,
    ``{"stage": info, "iteration": max_iter, "results": {"bbox/AP": 31.2, ...}}``
    to ``path``.

    Args:
        path: output JSON file.
        info: facts about the stage to store beside the results (index, name, teacher).
    """

    def __init__(self, path: str, info: Optional[Dict] = None):
        self._path = path
        self._info = dict(info or {})

    def after_train(self):
        if self.trainer.iter < self.trainer.max_iter or not comm.is_main_process():
            return
        latest = self.trainer.storage.latest()
        results = {
            key: float(value)
            for key, (value, _) in sorted(latest.items())
            if key.split("/", 1)[0] in EVAL_TASKS
        }
        write_json(self._path, {"stage": self._info, "iteration": self.trainer.max_iter, "results": results})


def write_json(path: str, document: dict) -> None:
    """Write ``document`` to ``path`` atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(document, f, indent=2)
    os.replace(tmp, path)
