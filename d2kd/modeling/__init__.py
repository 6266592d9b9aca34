"""Distillation core: the DistillationDetector meta-arch, frozen teachers,
feature pairing, and the backbones of d2kd's model configs."""
from . import backbone  # noqa: F401
from .backbone import MobileNetV2Backbone, TimmBackbone, make_resnet_stages
from .checkpoint import WeightsError, load_weights_strictly, read_state_dict
from .distiller import DistillationDetector
from .matching import PairingError, build_adapters, crop_to_common, pair_levels_by_stride
from .recorder import ForwardRecorder
from .teacher import Teacher

__all__ = [
    "DistillationDetector",
    "ForwardRecorder",
    "MobileNetV2Backbone",
    "PairingError",
    "Teacher",
    "TimmBackbone",
    "WeightsError",
    "build_adapters",
    "crop_to_common",
    "load_weights_strictly",
    "make_resnet_stages",
    "pair_levels_by_stride",
    "read_state_dict",
]
