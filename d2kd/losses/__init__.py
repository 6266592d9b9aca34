"""Distillation losses.

:mod:`d2kd.losses.functional` holds the pure functions of docs/LOSSES.md; the
modules here wrap them as :class:`DistillLoss` subclasses that the
distillation core calls with per-level student/teacher features and returns
``loss_<method>_<level>`` entries, already weighted.
"""
from . import functional
from .base import DistillContext, DistillLoss
from .feature import CWDLoss, FitNetLoss, PKDLoss
from .fgd import FGDLoss, GlobalContextBlock, fgd_attention, foreground_background_masks
from .masking import (
    AttentionGuidedMask,
    ChannelReweighting,
    DualMaskingLoss,
    FeatureGenerator,
    MGDLoss,
)

__all__ = [
    "functional",
    "DistillContext",
    "DistillLoss",
    "FitNetLoss",
    "PKDLoss",
    "CWDLoss",
    "MGDLoss",
    "FGDLoss",
    "GlobalContextBlock",
    "fgd_attention",
    "foreground_background_masks",
    "AttentionGuidedMask",
    "ChannelReweighting",
    "FeatureGenerator",
    "DualMaskingLoss",
]
