"""Distillation from a yacs (``get_cfg()``) config, for users of detectron2's ``train_net.py``.

The lazy configs of this repository are the main interface; this module lets a
yacs project reach the same :class:`~d2kd.modeling.DistillationDetector`
through ``cfg.MODEL.META_ARCHITECTURE = "DistillationDetector"`` and
``detectron2.modeling.build_model(cfg)``::

    from detectron2.config import get_cfg
    from d2kd.config.yacs import add_distillation_config

    cfg = get_cfg()
    add_distillation_config(cfg)
    cfg.merge_from_file("my_student.yaml")        # the student, as usual
    cfg.MODEL.META_ARCHITECTURE = "DistillationDetector"
    cfg.MODEL.DISTILL.STUDENT_META_ARCHITECTURE = "RetinaNet"
    cfg.MODEL.DISTILL.TEACHER_CONFIG = "my_teacher.yaml"
    cfg.MODEL.DISTILL.TEACHER_WEIGHTS = "output/teacher/model_final.pth"
    cfg.MODEL.DISTILL.LOSSES = ["PKDLoss"]
    cfg.MODEL.DISTILL.LOSS_WEIGHTS = [1.0]
    cfg.MODEL.DISTILL.IN_FEATURES = ["p3", "p4", "p5"]
    model = build_model(cfg)

The student is built from ``cfg`` itself with ``STUDENT_META_ARCHITECTURE``;
the teacher from the yacs file ``TEACHER_CONFIG`` (its own
``MODEL.META_ARCHITECTURE``) and the checkpoint ``TEACHER_WEIGHTS``. Losses are
classes of :mod:`d2kd.losses` named in ``LOSSES``, each with
``in_features=IN_FEATURES`` and ``weight`` from ``LOSS_WEIGHTS``; losses that
take ``channels`` get the teacher's FPN width. Other loss arguments keep their
defaults: a setting beyond these is a lazy config's job.
"""
from detectron2.config import CfgNode

from ..modeling.yacs import distillation_kwargs

__all__ = ["add_distillation_config", "distillation_kwargs"]


def add_distillation_config(cfg: CfgNode) -> CfgNode:
    """Add the ``MODEL.DISTILL`` keys (defaults below) to a yacs config, in place; returns it."""
    cfg.MODEL.DISTILL = CfgNode()
    cfg.MODEL.DISTILL.STUDENT_META_ARCHITECTURE = "GeneralizedRCNN"
    cfg.MODEL.DISTILL.TEACHER_CONFIG = ""
    cfg.MODEL.DISTILL.TEACHER_WEIGHTS = ""
    cfg.MODEL.DISTILL.LOSSES = ["FitNetLoss"]
    cfg.MODEL.DISTILL.LOSS_WEIGHTS = [1.0]
    cfg.MODEL.DISTILL.IN_FEATURES = ["p3", "p4", "p5"]
    # smallest training input side, for each loss's size checks; 0 = min(INPUT.MIN_SIZE_TRAIN)
    cfg.MODEL.DISTILL.MIN_INPUT_SIZE = 0
    cfg.MODEL.DISTILL.ADAPTERS = "needed"
    return cfg
