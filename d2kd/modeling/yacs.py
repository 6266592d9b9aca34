"""``DistillationDetector`` keyword arguments from a yacs config with ``MODEL.DISTILL``.

The keys are added by :func:`d2kd.config.yacs.add_distillation_config`, which
documents the yacs path; this is the model side, read by
:meth:`DistillationDetector.from_config` when ``build_model(cfg)`` builds it.
"""
import inspect
from typing import Dict

from detectron2.config import CfgNode

from .. import losses as loss_library
from ..utils.errors import ConfigError
from .teacher import Teacher

__all__ = ["distillation_kwargs"]


def _meta_arch(cfg: CfgNode, name: str):
    from detectron2.modeling import META_ARCH_REGISTRY

    return META_ARCH_REGISTRY.get(name)(cfg)  # an unknown name: the registry's KeyError names it


def distillation_kwargs(cfg: CfgNode) -> Dict:
    """Keyword arguments of ``DistillationDetector`` from a yacs config with ``MODEL.DISTILL``."""
    from detectron2.config import get_cfg

    if "DISTILL" not in cfg.MODEL:
        raise ConfigError(
            "MODEL.META_ARCHITECTURE is DistillationDetector but the config has no MODEL.DISTILL; "
            "call d2kd.config.yacs.add_distillation_config(cfg) before merging your file."
        )
    d = cfg.MODEL.DISTILL
    if d.STUDENT_META_ARCHITECTURE == "DistillationDetector":
        raise ConfigError("MODEL.DISTILL.STUDENT_META_ARCHITECTURE must be the student's own meta-arch")
    if not d.TEACHER_CONFIG or not d.TEACHER_WEIGHTS:
        raise ConfigError(
            "MODEL.DISTILL.TEACHER_CONFIG (the teacher's yacs file) and MODEL.DISTILL.TEACHER_WEIGHTS "
            "(its checkpoint; train it first with the same tool) must both be set."
        )
    if len(d.LOSSES) != len(d.LOSS_WEIGHTS):
        raise ConfigError(
            f"MODEL.DISTILL.LOSSES has {len(d.LOSSES)} entries but LOSS_WEIGHTS {len(d.LOSS_WEIGHTS)}; "
            "give one weight per loss."
        )

    student_cfg = cfg.clone()
    student_cfg.defrost()
    student_cfg.MODEL.META_ARCHITECTURE = d.STUDENT_META_ARCHITECTURE
    student = _meta_arch(student_cfg, d.STUDENT_META_ARCHITECTURE)

    teacher_cfg = get_cfg()
    teacher_cfg.merge_from_file(d.TEACHER_CONFIG)
    teacher_cfg.MODEL.DEVICE = cfg.MODEL.DEVICE
    teacher = Teacher(model=_meta_arch(teacher_cfg, teacher_cfg.MODEL.META_ARCHITECTURE), weights=d.TEACHER_WEIGHTS)
    widths = {s.channels for s in teacher.output_shape().values()}

    built = []
    for name, weight in zip(d.LOSSES, d.LOSS_WEIGHTS):
        loss_class = getattr(loss_library, name, None)
        if not (inspect.isclass(loss_class) and issubclass(loss_class, loss_library.DistillLoss)):
            known = sorted(n for n in loss_library.__all__ if n.endswith("Loss") and n != "DistillLoss")
            raise ConfigError(f"MODEL.DISTILL.LOSSES: unknown loss {name!r}; known: {', '.join(known)}")
        kwargs = dict(in_features=list(d.IN_FEATURES), weight=float(weight))
        if "channels" in inspect.signature(loss_class).parameters:
            if len(widths) != 1:
                raise ConfigError(f"{name} needs one teacher FPN width; the teacher's levels have {sorted(widths)}")
            kwargs["channels"] = next(iter(widths))
        built.append(loss_class(**kwargs))
    return dict(
        student=student,
        teachers=teacher,
        distill_losses=built,
        min_input_size=int(d.MIN_INPUT_SIZE) or min(cfg.INPUT.MIN_SIZE_TRAIN),
        adapters=d.ADAPTERS,
    )
