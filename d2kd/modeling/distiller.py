"""DistillationDetector: a student detector taught by frozen teachers."""
import logging
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from ..losses.base import DistillContext, DistillLoss
from .checkpoint import STUDENT_PREFIX, WeightsError, load_weights_strictly
from .inheritance import check_inheritance, copy_inherited, select_inherited
from .matching import PairingError, build_adapters, crop_to_common, pair_levels_by_stride
from .recorder import ForwardRecorder
from .teacher import Teacher
from .yacs import distillation_kwargs

logger = logging.getLogger(__name__)

DEFAULT_TEACHER = "teacher"


@META_ARCH_REGISTRY.register()
class DistillationDetector(nn.Module):
    """A Detectron2 meta-arch that trains ``student`` with losses from frozen ``teachers``.

    Training: the student runs its own, unmodified forward (its detection
    losses); its backbone features are captured on the way by a
    :class:`ForwardRecorder`. Each teacher used by a loss runs its backbone
    once, under ``no_grad``. Student levels are paired with teacher levels by
    stride, mapped to the teacher's channels by 1x1 adapters where they differ,
    cropped to the common extent, and handed to each distillation loss. The
    returned dict holds the student's losses plus every ``loss_<method>_*``.

    Inference: ``self.student(batched_inputs)``, unchanged outputs and cost.

    Built from a lazy config (``L(DistillationDetector)(student=..., ...)``) or,
    for yacs users, ``build_model(cfg)`` with ``MODEL.META_ARCHITECTURE =
    "DistillationDetector"`` and the ``MODEL.DISTILL`` keys of
    :func:`d2kd.config.yacs.add_distillation_config`.

    Teachers are held outside the module tree (not registered submodules): they
    are not in ``parameters()`` (so not in the optimizer nor synced by DDP), not
    in ``state_dict()`` (so not in the run's checkpoints), and not switched to
    train mode by ``.train()``. ``.to()``/``.cuda()`` still move them.

    Args:
        student: a Detectron2 meta-arch whose ``backbone`` returns a dict of features.
        teachers: a :class:`Teacher`, or a dict name -> Teacher.
        distill_losses: :class:`DistillLoss` modules. A loss picks its teacher by
            its ``teacher`` attribute (a name in ``teachers``); by default the
            only (or first) teacher.
        student_weights: optional plain student checkpoint loaded into the
            student at construction (strict), e.g. a pretrained student.
        min_input_size: smallest side (pixels) of the input images in training,
            if known (e.g. the smallest ``ResizeShortestEdge`` length); each loss's
            ``check_feature_sizes`` then validates its settings before training.
        adapters: ``"needed"`` (a 1x1 adapter only where student and teacher
            channels differ) or ``"always"`` (at every paired level); see
            :func:`~d2kd.modeling.matching.build_adapters`.
        inherit: student modules to start from the teacher's weights, as module
            paths of the detector (fnmatch patterns: ``["proposal_generator",
            "backbone.fpn_output*"]``); checked at construction (every selected
            tensor must exist in the student with the same shape), copied when
            training starts (:meth:`inherit_from_teacher`, called by the tool's
            :class:`~d2kd.engine.hooks.TeacherInheritance` hook after
            ``train.init_checkpoint`` is loaded). See :mod:`d2kd.modeling.inheritance`.
        inherit_teacher: the teacher to inherit from (a name in ``teachers``);
            default the only (or first) one.
        distill_schedule: an fvcore ``ParamScheduler`` (as detectron2 uses for the
            learning rate): every distillation loss is multiplied by
            ``distill_schedule(iter / max_iter)``, set before each step by the
            tool's :class:`~d2kd.engine.hooks.DistillWeightSchedule` hook and logged
            as ``distill_weight_scale`` (configs/common/distill_schedules.py: a
            warm-up ramp, a decay). ``None``: a constant 1 (no hook).
    """

    @configurable
    def __init__(
        self,
        *,
        student: nn.Module,
        teachers: Union[Teacher, Mapping[str, Teacher]],
        distill_losses: Sequence[DistillLoss],
        student_weights: str = "",
        min_input_size: Optional[int] = None,
        adapters: str = "needed",
        inherit: Sequence[str] = (),
        inherit_teacher: str = "",
        distill_schedule=None,
    ):
        super().__init__()
        if not hasattr(student, "backbone"):
            raise TypeError(f"student must be a Detectron2 meta-arch, got {type(student).__name__}")
        if isinstance(teachers, Teacher):
            teachers = {DEFAULT_TEACHER: teachers}
        if not teachers:
            raise ValueError("DistillationDetector needs at least one teacher")
        for name, teacher in teachers.items():
            if not isinstance(teacher, Teacher):
                raise TypeError(f"teachers[{name!r}] must be a d2kd Teacher, got {type(teacher).__name__}")
        self.student = student
        # the keys of the student's own (detection) losses in the last training forward;
        # the rest of the returned dict is distillation (read by the diagnostics hook)
        self.student_loss_keys: Tuple[str, ...] = ()
        if student_weights:
            load_weights_strictly(student, student_weights)
        # a plain dict hides the teachers from nn.Module's parameter and state tracking
        self.__dict__["_teachers"] = dict(teachers)
        self.distill_losses = nn.ModuleList(distill_losses)
        self._loss_teacher = [self._teacher_name_of(loss) for loss in self.distill_losses]
        self.adapters = nn.ModuleDict()
        self._pairs: Dict[str, Dict[str, str]] = {}
        student_shapes = student.backbone.output_shape()
        for name in dict.fromkeys(self._loss_teacher):
            levels = sorted(
                {lvl for loss, t in zip(self.distill_losses, self._loss_teacher) if t == name for lvl in loss.in_features}
            )
            teacher_shapes = self._teachers[name].output_shape()
            self._pairs[name] = pair_levels_by_stride(student_shapes, teacher_shapes, levels)
            self.adapters[name] = build_adapters(student_shapes, teacher_shapes, self._pairs[name], adapters)
        self.distill_schedule = distill_schedule
        # the factor of every distillation loss in this step (DistillWeightSchedule sets it)
        self.distill_weight_scale = 1.0
        self.inherit = tuple(inherit or ())
        self.inherit_teacher = inherit_teacher or next(iter(self._teachers))
        if self.inherit:
            if self.inherit_teacher not in self._teachers:
                raise WeightsError(f"inherit_teacher={inherit_teacher!r} is not one of the teachers "
                                   f"{sorted(self._teachers)}; name one of them")
            selected = select_inherited(self._teachers[self.inherit_teacher].model.state_dict(), self.inherit)
            check_inheritance(student.state_dict(), selected, self.inherit)
        if min_input_size:
            sizes = {
                level: -(-int(min_input_size) // spec.stride)  # ceil: detectron2 convs pad
                for level, spec in student_shapes.items()
            }
            for loss in self.distill_losses:
                try:
                    loss.check_feature_sizes({k: sizes[k] for k in loss.in_features})
                except ValueError as e:  # a PairingError: the tools exit with a clean Config error
                    raise PairingError(f"{e} (model.min_input_size={min_input_size})") from e

    def inherit_from_teacher(self) -> List[str]:
        """Copy the teacher weights selected by ``inherit`` into the student; returns the
        student keys copied (logged)."""
        if not self.inherit:
            return []
        teacher = self._teachers[self.inherit_teacher]
        copied = copy_inherited(self.student, select_inherited(teacher.model.state_dict(), self.inherit))
        modules = sorted({k.rsplit(".", 1)[0] for k in copied})
        logger.info("Student inherited %d tensors from teacher %r (inherit=%s): %s", len(copied),
                    self.inherit_teacher, list(self.inherit), ", ".join(modules))
        return copied

    @classmethod
    def from_config(cls, cfg):
        return distillation_kwargs(cfg)

    def _teacher_name_of(self, loss: DistillLoss) -> str:
        name = getattr(loss, "teacher", None) or next(iter(self._teachers))
        if name not in self._teachers:
            raise ValueError(
                f"{type(loss).__name__}.teacher={name!r} is not one of the teachers "
                f"{sorted(self._teachers)}"
            )
        return name

    @property
    def teachers(self) -> Dict[str, Teacher]:
        return self._teachers

    @property
    def device(self):
        return self.student.device

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for teacher in self._teachers.values():
            teacher._apply(fn, *args, **kwargs)
        return self

    def extra_repr(self) -> str:
        return "teachers (frozen, not in parameters/state_dict): " + ", ".join(
            f"{name}={type(t.model).__name__}" for name, t in self._teachers.items()
        )

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return self.student(batched_inputs)
        with ForwardRecorder(self.student.backbone) as recorder:
            losses = self.student(batched_inputs)
        self.student_loss_keys = tuple(losses)
        if recorder.calls != 1:
            raise RuntimeError(
                f"The student's backbone ran {recorder.calls} times in one forward; "
                "DistillationDetector expects exactly one call."
            )
        losses.update(self.distillation_losses(batched_inputs, recorder.output))
        return losses

    def distillation_losses(
        self,
        batched_inputs: List[dict],
        student_features: Dict[str, torch.Tensor],
        extras: Optional[dict] = None,
    ) -> Dict[str, torch.Tensor]:
        """Distillation losses for student features already computed on ``batched_inputs``."""
        context = self._context(batched_inputs, extras)
        losses: Dict[str, torch.Tensor] = {}
        for name in self._pairs:
            student_paired, teacher_paired = self.paired_features(name, batched_inputs, student_features)
            for loss, loss_teacher in zip(self.distill_losses, self._loss_teacher):
                if loss_teacher != name:
                    continue
                for key, value in loss(student_paired, teacher_paired, context).items():
                    if key in losses:
                        raise KeyError(f"Two distillation losses both return {key!r}")
                    losses[key] = value if self.distill_weight_scale == 1.0 else value * self.distill_weight_scale
        return losses

    def paired_features(
        self, teacher: str, batched_inputs: List[dict], student_features: Dict[str, torch.Tensor]
    ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """Student and teacher ``teacher``'s features, paired, adapted and cropped.

        Returns:
            (student, teacher): dicts keyed by the student's level names, with
            tensors of identical shape (N, C_teacher, H, W) per level.
        """
        data_format = getattr(self.student, "input_format", "BGR")
        teacher_features = self._teachers[teacher].features(batched_inputs, data_format)
        student_paired, teacher_paired = {}, {}
        for s_level, t_level in self._pairs[teacher].items():
            s = student_features[s_level]
            if s_level in self.adapters[teacher]:
                s = self.adapters[teacher][s_level](s)
            student_paired[s_level], teacher_paired[s_level] = crop_to_common(
                s, teacher_features[t_level]
            )
        return student_paired, teacher_paired

    def _context(self, batched_inputs: List[dict], extras: Optional[dict]) -> DistillContext:
        shapes = self.student.backbone.output_shape()
        device = self.device
        instances = None
        if all("instances" in x for x in batched_inputs):
            instances = [x["instances"].to(device) for x in batched_inputs]
        return DistillContext(
            strides={name: spec.stride for name, spec in shapes.items()},
            image_sizes=[tuple(x["image"].shape[-2:]) for x in batched_inputs],
            instances=instances,
            extras=dict(extras or {}),
        )

    def load_state_dict(self, state_dict, strict: bool = True):
        """Also accepts a plain student checkpoint (keys without ``student.``)."""
        if state_dict and not any(k.startswith(STUDENT_PREFIX) for k in state_dict):
            logger.info("Loading a plain student checkpoint into DistillationDetector.student")
            state_dict = {STUDENT_PREFIX + k: v for k, v in state_dict.items()}
        return super().load_state_dict(state_dict, strict=strict)


class DistilledStudent(nn.Module):
    """The student of a distillation config, alone: what ``--eval-only`` evaluates.

    A :class:`DistillationDetector` infers with its student, so evaluating one needs
    neither its teachers (nor their checkpoints) nor its adapters. This module holds the
    student under the same name, ``student``, so that a distillation run's checkpoint
    (keys ``student.*``) loads into it with detectron2's ``DetectionCheckpointer``; the
    run's other tensors (adapters, the losses' modules) are left out, and a plain student
    checkpoint (keys without ``student.``) loads too.

    Args:
        student: the student meta-arch (``instantiate(cfg.model.student)``).
    """

    def __init__(self, student: nn.Module):
        super().__init__()
        self.student = student

    def forward(self, batched_inputs: List[dict]):
        return self.student(batched_inputs)

    def load_state_dict(self, state_dict, strict: bool = True):
        """A distillation run's state dict (its ``student.*`` keys), or a plain student's."""
        if any(k.startswith(STUDENT_PREFIX) for k in state_dict):
            state_dict = {k: v for k, v in state_dict.items() if k.startswith(STUDENT_PREFIX)}
        else:
            state_dict = {STUDENT_PREFIX + k: v for k, v in state_dict.items()}
        return super().load_state_dict(state_dict, strict=strict)
