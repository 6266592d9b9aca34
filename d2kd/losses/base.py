"""The interface every distillation loss module implements.

The distillation core (:class:`d2kd.modeling.DistillationDetector`) pairs the
student's and the teacher's FPN levels by stride, bridges channel mismatch with
a 1x1 adapter on the student side and crops both to their common extent. A
distillation loss module then receives, for each paired level, two tensors of
the same shape (N, C, H, W), keyed by the *student's* level name, and returns a
dict of named losses, each already multiplied by its weight.

Each loss is a per-level term times an outer weight: :meth:`DistillLoss.weighted_levels`
is that loop, written once, and the default :meth:`DistillLoss.forward` runs it
over :meth:`DistillLoss.level_loss`.
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .common import level_pair

LevelLoss = Callable[[str, torch.Tensor, torch.Tensor], Union[torch.Tensor, Dict[str, torch.Tensor]]]
"""``(level, s, t) -> value``: one level's unweighted loss, a scalar or ``{name: scalar}``."""


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
    and implement :meth:`level_loss` (the default :meth:`forward` weights it on
    every level of ``in_features``) or, for anything else, :meth:`forward`.

    Args:
        in_features: student level names this loss applies to (e.g. ``["p3", "p4"]``);
            levels not listed are ignored.
        weight: multiplier applied to every returned loss: the loss's outer weight, in
            every class (the config key ``model.distill_losses.<i>.weight``).
    """

    method = "distill"
    # deprecated constructor argument names -> the current ones, of a class that renamed an
    # argument but still takes the old name (e.g. MKD's ``alpha`` -> ``weight``)
    renamed_arguments: Dict[str, str] = {}

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

    def level_loss(
        self, level: str, s: torch.Tensor, t: torch.Tensor
    ) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        """Unweighted loss of one level (a :data:`LevelLoss`).

        Args:
            level: a name from ``in_features`` (selects per-level modules).
            s, t: (N, C, H, W) student and detached teacher features.

        Returns:
            a scalar, or ``{name: scalar}`` for a loss with several named terms.
        """
        raise NotImplementedError

    def weighted_levels(
        self,
        level_loss: LevelLoss,
        student: Mapping[str, torch.Tensor],
        teacher: Mapping[str, torch.Tensor],
        *,
        weight: Optional[float] = None,
        levels: Optional[Sequence[str]] = None,
        suffix: str = "",
    ) -> Dict[str, torch.Tensor]:
        """The per-level weighted loop every distillation loss shares.

        For each level l of ``levels`` in order, with ``(s_l, t_l)`` its (N, C, H, W)
        student and detached teacher features::

            value = level_loss(l, s_l, t_l)
            losses[loss_name(l, suffix)] = weight * value          # a scalar
            losses[loss_name(l, suffix + k)] = weight * value[k]   # a dict, each term k

        ``value`` is a loss of docs/LOSSES.md on one level, so the returned values
        sum to ``weight * sum_l L(l)``.

        Args:
            level_loss: ``(level, s, t) -> scalar or {name: scalar}``, unweighted.
            student, teacher: level name -> feature.
            weight: outer weight; default ``self.weight``.
            levels: default ``in_features``.
            suffix: put before each term's name in the keys.
        """
        weight = self.weight if weight is None else weight
        owner = type(self).__name__
        losses = {}
        for level in self.in_features if levels is None else levels:
            s, t = level_pair(owner, level, student, teacher)
            value = level_loss(level, s, t)
            terms = value.items() if isinstance(value, Mapping) else (("", value),)
            for name, term in terms:
                losses[self.loss_name(level, suffix + name)] = weight * term
        return losses

    def forward(
        self,
        student: Dict[str, torch.Tensor],
        teacher: Dict[str, torch.Tensor],
        context: DistillContext,
    ) -> Dict[str, torch.Tensor]:
        """``{loss_<method>_<level>: weight * level_loss(level, s, t)}`` over ``in_features``."""
        return self.weighted_levels(self.level_loss, student, teacher)
