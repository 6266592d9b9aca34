"""The DFMSD distillation loss: DMKD dual masking, masking enhancement and semantic alignment.

DFMSD eq. 6-8 with semantic feature alignment (section 3.5) added as a third
term, all inside the paper's alpha::

    L = L_GT + alpha * ( L_rec + beta * L_ME + gamma * L_SFA )

- ``L_rec`` (eq. 7): DMKD dual masking, reused from
  :class:`d2kd.losses.DualMaskingLoss`: per level, a spatial and a channel
  branch, each ``masked_generation_loss`` (sum over C, H, W, mean over N) of
  the generator's reconstruction of the attention-masked student feature.
- ``L_ME`` (eq. 8): the same reconstruction (same masks rule, same SE blocks
  and generators) on the *enhanced view* of the batch (see
  :mod:`dfmsd.enhancement`); computed when the meta-arch passes the enhanced
  view's features with ``context.extras[ENHANCED_VIEW] = True``.
- ``L_SFA`` (eq. 5): Pearson alignment, :func:`d2kd.losses.functional.pkd_loss`,
  per selected FPN level.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch

from d2kd.losses import DualMaskingLoss
from d2kd.losses import functional as LF
from d2kd.losses.base import DistillContext

__all__ = ["ENHANCED_VIEW", "DFMSDLoss"]

ENHANCED_VIEW = "dfmsd_enhanced_view"
"""Key of ``DistillContext.extras``: True when the features are those of the enhanced view."""


def _check_weight(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _level_list(owner: str, name: str, levels) -> List[str]:
    if isinstance(levels, str) or not all(isinstance(x, str) for x in levels):
        raise ValueError(f"{owner}: {name} must be a list of level names, got {levels!r}")
    return list(levels)


class DFMSDLoss(DualMaskingLoss):
    """DFMSD's distillation loss for one teacher (one SAL stage).

    Normal view (keys, each already weighted):

    - ``loss_dfmsd_spatial_<level>``, ``loss_dfmsd_channel_<level>``:
      ``alpha * L_rec`` per branch and level of ``in_features``;
    - ``loss_dfmsd_sfa_<level>``: ``alpha * gamma * pkd_loss(s, t)`` per level of
      ``sfa_features`` (absent when ``gamma == 0`` or ``sfa_features`` is empty).

    Enhanced view (``context.extras[ENHANCED_VIEW]`` true):

    - ``loss_dfmsd_me_spatial_<level>``, ``loss_dfmsd_me_channel_<level>``:
      ``alpha * beta * L_rec`` on the enhanced view's features (absent when
      ``beta == 0``). SFA is not applied to the enhanced view.

    Shapes: every student/teacher feature is (N, C, H, W), C the teacher's
    channels (the core's adapters run before).

    Args:
        in_features: levels of the masked reconstruction (and of ME).
        channels: teacher channels, an int or a dict level -> int (levels of
            ``in_features``).
        weight: alpha, the weight of the whole distillation term (eq. 6). The
            losses are sum-reduced, so it is small (paper: 5e-7 on COCO).
        beta: weight of L_ME relative to L_rec (eq. 7). The paper's absolute
            2.5e-7 beside alpha = 5e-7 is beta = 0.5 here.
        gamma: weight of L_SFA relative to L_rec; 0 switches SFA off.
        sfa_features: levels aligned by SFA (paper table 9); default: ``in_features``.
        spatial_ratio, channel_ratio, mask_mode, tau, reduction, branches: the
            DMKD dual masking, see :class:`d2kd.losses.DualMaskingLoss`.
    """

    method = "dfmsd"
    supports_enhanced_view = True

    def __init__(
        self,
        *,
        in_features: List[str],
        channels: Union[int, Mapping[str, int]],
        weight: float = 5e-7,
        beta: float = 0.5,
        gamma: float = 2e6,
        sfa_features: Optional[Sequence[str]] = None,
        spatial_ratio: float = 0.5,
        channel_ratio: float = 0.5,
        mask_mode: str = "attention",
        tau: float = 1.0,
        reduction: int = 16,
        branches: Sequence[str] = ("spatial", "channel"),
    ):
        owner = type(self).__name__
        in_features = _level_list(owner, "in_features", in_features)
        super().__init__(
            in_features=in_features,
            channels=channels,
            weight=weight,
            spatial_ratio=spatial_ratio,
            channel_ratio=channel_ratio,
            mask_mode=mask_mode,
            tau=tau,
            reduction=reduction,
            branches=branches,
        )
        self.beta = _check_weight(owner, "beta", beta)
        self.gamma = _check_weight(owner, "gamma", gamma)
        sfa = in_features if sfa_features is None else _level_list(owner, "sfa_features", sfa_features)
        self.masking_features = in_features
        self.sfa_features = sfa
        # the core pairs exactly the levels named here: masking levels plus SFA levels
        self.in_features = list(dict.fromkeys(in_features + sfa))

    def forward(
        self,
        student: Dict[str, torch.Tensor],
        teacher: Dict[str, torch.Tensor],
        context: DistillContext,
    ) -> Dict[str, torch.Tensor]:
        enhanced = bool(context.extras.get(ENHANCED_VIEW, False))
        if enhanced:
            return self._reconstruction(student, teacher, self.weight * self.beta, suffix="me_")
        losses = self._reconstruction(student, teacher, self.weight, suffix="")
        if self.gamma > 0:
            losses.update(
                self.weighted_levels(
                    lambda level, s, t: LF.pkd_loss(s, t),
                    student,
                    teacher,
                    weight=self.weight * self.gamma,
                    levels=self.sfa_features,
                    suffix="sfa",
                )
            )
        return losses

    def _reconstruction(self, student, teacher, weight: float, suffix: str) -> Dict[str, torch.Tensor]:
        """``weight * L_rec`` (eq. 7) per branch and masking level; nothing when ``weight`` is 0."""
        if weight == 0:
            return {}
        return self.weighted_levels(
            self.branch_losses, student, teacher, weight=weight, levels=self.masking_features, suffix=suffix
        )

    def extra_repr(self) -> str:
        return (
            f"alpha={self.weight}, beta={self.beta}, gamma={self.gamma}, "
            f"masking={self.masking_features}, sfa={self.sfa_features if self.gamma > 0 else 'off'}"
        )
