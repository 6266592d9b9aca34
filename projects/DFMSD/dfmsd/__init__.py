"""DFMSD: dual feature masking stage-wise distillation (see projects/DFMSD/README.md).

- :class:`DFMSDLoss`: DMKD dual masking + L_ME + semantic feature alignment (eq. 5-8).
- :class:`MaskingEnhancementMapper`: the data side of masking enhancement (eq. 4).
- :class:`DFMSDDetector`: the meta-arch that adds the enhanced-view pass.
- Stage-wise adaptive learning (SAL) is method-agnostic: a config's ``stages``,
  offered by :func:`d2kd.engine.stages.stages_of` and trained in order by
  ``tools/lazyconfig_train_net.py``.
"""
from .box_cache import BoxCache, BoxCacheError, image_key
from .enhancement import (
    ENHANCEMENT_OPS,
    MaskingEnhancement,
    MaskingEnhancementMapper,
    ProportionalCrop,
    box_area_ratio,
    gt_boxes_xyxy,
)
from .losses import ENHANCED_VIEW, DFMSDLoss
from .meta_arch import DFMSDDetector, enhanced_view

__all__ = [
    "BoxCache",
    "BoxCacheError",
    "image_key",
    "ENHANCEMENT_OPS",
    "MaskingEnhancement",
    "MaskingEnhancementMapper",
    "ProportionalCrop",
    "box_area_ratio",
    "gt_boxes_xyxy",
    "ENHANCED_VIEW",
    "DFMSDLoss",
    "DFMSDDetector",
    "enhanced_view",
]
