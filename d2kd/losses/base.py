"""The interface every distillation loss module implements.

The distillation core (:class:`d2kd.modeling.DistillationDetector`) pairs the
student's and the teacher's FPN levels by stride, bridges channel mismatch with
a 1x1 adapter on the student side and crops both to their common extent. A
distillation loss module then receives, for each paired level, two tensors of
the same shape (N, C, H, W), keyed by the *student's* level name, and returns a
dict of named losses, each already multiplied by its weight.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn


@dataclass
class DistillContext:
    """What a loss may need besides the features.

    Attributes:
        strides: level name -> stride in pixels of the (padded) input tensor.
        image_sizes: per image, (height, width) of the valid (unpadded) region
            of the student's input tensor.
        instances: per image, ground-truth ``Instances`` with ``gt_boxes``
            (XYXY, in the student's input-tensor pixels) and ``gt_classes``;
            ``None`` when the loss is computed without annotations.
        extras: anything a method adds (for example an enhanced view's
            features); plain dict so that methods can extend it.
    """

    strides: Dict[str, int]
    image_sizes: List[Tuple[int, int]]
    instances: Optional[list] = None
    extras: Dict[str, object] = field(default_factory=dict)


class DistillLoss(nn.Module):
    """Base class of distillation losses.

    Subclasses set ``method`` (used in loss names, ``loss_<method>_<level>``)
    and implement :meth:`forward`.

    Args:
        in_features: student level names this loss applies to (e.g. ``["p3", "p4"]``);
            levels not listed are ignored.
        weight: multiplier applied to every returned loss.
    """

    method = "distill"
    # the constructor argument that multiplies every loss the class returns (its outer
    # weight): the config key tools/loss_scale.py names, model.distill_losses.<i>.<weight_key>
    weight_key = "weight"

    def __init__(self, *, in_features: List[str], weight: float = 1.0):
        super().__init__()
        if not in_features:
            raise ValueError(f"{type(self).__name__}: in_features must name at least one level")
        if weight < 0:
            raise ValueError(f"{type(self).__name__}: weight must be >= 0, got {weight}")
        self.in_features = list(in_features)
        self.weight = float(weight)

    def check_feature_sizes(self, sizes: Dict[str, int]) -> None:
        """Validate against the smallest feature map each level will have.

        Called once by :class:`DistillationDetector` at construction (before
        training) when it knows the smallest input size. Override to raise a
        ``ValueError`` for settings that cannot work (e.g. a pooling kernel
        larger than a level's map).

        Args:
            sizes: student level name -> smallest side (pixels) of its feature map.
        """

    def loss_name(self, level: str, suffix: str = "") -> str:
        return f"loss_{self.method}{'_' + suffix if suffix else ''}_{level}"

    def forward(
        self,
        student: Dict[str, torch.Tensor],
        teacher: Dict[str, torch.Tensor],
        context: DistillContext,
    ) -> Dict[str, torch.Tensor]:
        raise NotImplementedError
