"""Masked feature distillation: MGD and the DMKD / AMD building blocks.

Building blocks (composed by DFMSD in ``projects/DFMSD``):

- :class:`AttentionGuidedMask`: a {0, 1} mask from the teacher's spatial or
  channel attention (DFMSD eq. 2-3) that hides a fixed fraction of positions
  or channels.
- :class:`ChannelReweighting`: squeeze-and-excitation block (AMD's channel cue).
- :class:`FeatureGenerator`: conv3x3-ReLU-conv3x3 reconstruction head (MGD).

Losses: :class:`MGDLoss` (random spatial masking) and :class:`DualMaskingLoss`
(DMKD: spatial and channel branches). Both are sum-reduced
(:func:`~d2kd.losses.functional.masked_generation_loss`) and detach the teacher.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from . import functional as LF
from .common import check_positive, check_ratio, level_channels
from .base import DistillLoss

__all__ = [
    "AttentionGuidedMask",
    "ChannelReweighting",
    "FeatureGenerator",
    "MGDLoss",
    "DualMaskingLoss",
]

MASK_MODES = ("attention", "sample", "random")
MASK_DIMS = ("spatial", "channel")


def num_hidden(ratio: float, total: int) -> int:
    """How many of ``total`` positions (or channels) a mask ratio hides:
    ``round(ratio * total)`` with Python's rounding (ties to even)."""
    return int(round(ratio * total))


class FeatureGenerator(nn.Sequential):
    """MGD generation block: conv3x3 -> ReLU -> conv3x3, (N, C, H, W) -> (N, C_out, H, W).

    Args:
        channels: input channels.
        out_channels: output channels; defaults to ``channels``.
    """

    def __init__(self, channels: int, out_channels: Optional[int] = None):
        out_channels = channels if out_channels is None else out_channels
        for name, c in (("channels", channels), ("out_channels", out_channels)):
            if isinstance(c, bool) or not isinstance(c, int) or c <= 0:
                raise ValueError(f"FeatureGenerator: {name} must be a positive int, got {c!r}")
        super().__init__(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, out_channels, kernel_size=3, padding=1),
        )


class ChannelReweighting(nn.Module):
    """Squeeze-and-excitation channel re-weighting (AMD / DMKD).

    ``y = x * sigmoid(W2 relu(W1 avgpool(x)))`` with W1: C -> max(1, C // reduction),
    W2 back to C (1x1 convs). Shapes: (N, C, H, W) -> (N, C, H, W).

    Args:
        channels: C.
        reduction: squeeze ratio, a positive int.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        for name, v in (("channels", channels), ("reduction", reduction)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"ChannelReweighting: {name} must be a positive int, got {v!r}")
        hidden = max(1, channels // reduction)
        self.excite = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.excite(x)


class AttentionGuidedMask(nn.Module):
    """A keep-mask (1 keeps, 0 hides) built from a teacher feature.

    Exactly ``k = round(ratio * P)`` elements are hidden per image, P being
    H*W positions (``dim="spatial"``, mask (N, 1, H, W)) or C channels
    (``dim="channel"``, mask (N, C, 1, 1)). Which ones depends on ``mask_mode``:

    - ``"attention"``: the k with the highest teacher attention
      (:func:`~d2kd.losses.functional.spatial_attention` /
      :func:`~d2kd.losses.functional.channel_attention`), ranked by the sigmoid's
      argument so that saturated attention (exactly 1.0 in float32) leaves no ties;
    - ``"sample"``: k drawn without replacement, each draw with probability
      proportional to the attention of the elements not drawn yet;
    - ``"random"``: k drawn uniformly without replacement.

    The mask carries no gradient and has the teacher feature's dtype.

    Args:
        ratio: fraction hidden, in [0, 1].
        dim: ``"spatial"`` or ``"channel"``.
        mask_mode: ``"attention"``, ``"sample"`` or ``"random"``.
        tau: attention temperature (> 0); it matters only for ``"sample"``.
    """

    def __init__(
        self,
        ratio: float,
        dim: str = "spatial",
        mask_mode: str = "attention",
        tau: float = 1.0,
    ):
        super().__init__()
        owner = type(self).__name__
        self.ratio = check_ratio(owner, "ratio", ratio)
        if dim not in MASK_DIMS:
            raise ValueError(f"{owner}: dim must be one of {MASK_DIMS}, got {dim!r}")
        if mask_mode not in MASK_MODES:
            raise ValueError(f"{owner}: mask_mode must be one of {MASK_MODES}, got {mask_mode!r}")
        self.dim = dim
        self.mask_mode = mask_mode
        self.tau = check_positive(owner, "tau (attention temperature)", tau)

    def attention(self, t: torch.Tensor) -> torch.Tensor:
        """The teacher attention this mask ranks: (N, 1, H, W) or (N, C, 1, 1)."""
        fn = LF.spatial_attention if self.dim == "spatial" else LF.channel_attention
        return fn(t.detach(), self.tau)

    @torch.no_grad()
    def forward(
        self, t: torch.Tensor, generator: Optional[torch.Generator] = None
    ) -> torch.Tensor:
        """Args:
            t: (N, C, H, W) teacher feature.
            generator: optional ``torch.Generator`` for ``"sample"`` / ``"random"``.

        Returns:
            keep-mask (N, 1, H, W) for ``dim="spatial"``, (N, C, 1, 1) for ``"channel"``.
        """
        att = self.attention(t)
        scores = att.flatten(1)  # (N, P)
        n, p = scores.shape
        k = num_hidden(self.ratio, p)
        keep = torch.ones_like(scores)
        if k > 0:
            if self.mask_mode == "attention":
                logits = LF.spatial_attention_logits if self.dim == "spatial" else LF.channel_attention_logits
                hidden = logits(t.detach(), self.tau).flatten(1).topk(k, dim=1).indices
            elif self.mask_mode == "sample":
                # a sigmoid can underflow to 0; keep every element drawable
                probs = scores.clamp_min(torch.finfo(scores.dtype).tiny)
                hidden = torch.multinomial(probs, k, replacement=False, generator=generator)
            else:
                noise = torch.rand((n, p), generator=generator, device=scores.device)
                hidden = noise.topk(k, dim=1).indices
            keep.scatter_(1, hidden, 0.0)
        return keep.view_as(att).to(t.dtype)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, dim={self.dim!r}, mask_mode={self.mask_mode!r}, tau={self.tau}"


class MGDLoss(DistillLoss):
    """Masked generative distillation (Yang et al., ECCV 2022).

    Per level: each position of the student feature is hidden independently
    with probability ``mask_ratio`` (the same mask for all channels), a
    per-level :class:`FeatureGenerator` reconstructs the teacher feature, and
    the loss is :func:`~d2kd.losses.functional.masked_generation_loss` (sum
    over C, H, W, mean over N). Keys: ``loss_mgd_<level>``.

    Args:
        in_features: student level names.
        channels: the (teacher-side) channel count, an int for all levels or a
            dict level -> int.
        weight: loss weight; MGD's alpha (2e-5 for RetinaNet students).
        mask_ratio: MGD's lambda, probability of hiding a position (0.65 for detection).
    """

    method = "mgd"

    def __init__(
        self,
        *,
        in_features: List[str],
        channels: Union[int, Mapping[str, int]],
        weight: float = 2e-5,
        mask_ratio: float = 0.65,
    ):
        super().__init__(in_features=in_features, weight=weight)
        owner = type(self).__name__
        self.mask_ratio = check_ratio(owner, "mask_ratio", mask_ratio)
        per_level = level_channels(owner, channels, self.in_features)
        self.generators = nn.ModuleDict({f: FeatureGenerator(c) for f, c in per_level.items()})

    def level_loss(self, level: str, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """MGD's L_dis on one level: ``s``, ``t`` (N, C, H, W), a new (N, 1, H, W) mask each call."""
        n, _, h, w = s.shape
        keep = (torch.rand((n, 1, h, w), device=s.device) >= self.mask_ratio).to(s.dtype)
        return LF.masked_generation_loss(s, t, keep, self.generators[level])


class DualMaskingLoss(DistillLoss):
    """DMKD dual masking (DFMSD section 3.1; our reading, see docs/LOSSES.md).

    For each level and each branch b in ``branches``:

        mask_b   = AttentionGuidedMask(ratio_b, dim=b, mask_mode)(teacher)
        loss_b   = masked_generation_loss(student, teacher, mask_b, G_b o SE_b)

    with a per-level, per-branch :class:`ChannelReweighting` (SE_b) followed by
    a :class:`FeatureGenerator` (G_b). The spatial branch hides the fraction
    ``spatial_ratio`` of positions with the highest teacher spatial attention,
    the channel branch the fraction ``channel_ratio`` of channels with the
    highest channel attention. Keys: ``loss_dmkd_spatial_<level>`` and
    ``loss_dmkd_channel_<level>``, each times ``weight``.

    Args:
        in_features: student level names.
        channels: the (teacher-side) channel count, an int for all levels or a
            dict level -> int.
        weight: loss weight (the losses are sum-reduced, so it is small).
        spatial_ratio: lambda_s, fraction of positions hidden, in [0, 1].
        channel_ratio: lambda_c, fraction of channels hidden, in [0, 1].
        mask_mode: ``"attention"`` (DMKD), ``"sample"`` or ``"random"``; see
            :class:`AttentionGuidedMask`.
        tau: attention temperature.
        reduction: SE squeeze ratio.
        branches: which branches to build, a non-empty subset of
            ``("spatial", "channel")`` (``("spatial",)`` with ``mask_mode="random"``
            is MGD with an exact mask count plus SE).
    """

    method = "dmkd"

    def __init__(
        self,
        *,
        in_features: List[str],
        channels: Union[int, Mapping[str, int]],
        weight: float = 2e-5,
        spatial_ratio: float = 0.5,
        channel_ratio: float = 0.5,
        mask_mode: str = "attention",
        tau: float = 1.0,
        reduction: int = 16,
        branches: Sequence[str] = ("spatial", "channel"),
    ):
        super().__init__(in_features=in_features, weight=weight)
        owner = type(self).__name__
        branches = tuple(branches) if not isinstance(branches, str) else (branches,)
        if not branches or len(set(branches)) != len(branches) or set(branches) - set(MASK_DIMS):
            raise ValueError(
                f"{owner}: branches must be a non-empty subset of {MASK_DIMS} without "
                f"repeats, got {branches!r}"
            )
        ratios = {
            "spatial": check_ratio(owner, "spatial_ratio", spatial_ratio),
            "channel": check_ratio(owner, "channel_ratio", channel_ratio),
        }
        per_level = level_channels(owner, channels, self.in_features)
        self.branches = branches
        self.masks = nn.ModuleDict(
            {
                b: AttentionGuidedMask(ratios[b], dim=b, mask_mode=mask_mode, tau=tau)
                for b in branches
            }
        )
        self.reconstructors = nn.ModuleDict(
            {
                b: nn.ModuleDict(
                    {
                        f: nn.Sequential(ChannelReweighting(c, reduction), FeatureGenerator(c))
                        for f, c in per_level.items()
                    }
                )
                for b in branches
            }
        )

    def branch_losses(
        self, level: str, s: torch.Tensor, t: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        """Unweighted loss of each branch on one level, ``{branch: scalar}``.

        Reusable on other views of the same level (DFMSD's masking enhancement).

        Args:
            level: a name from ``in_features`` (selects the SE and generator).
            s, t: (N, C, H, W) student and teacher features; t is detached.
        """
        t = t.detach()
        return {
            b: LF.masked_generation_loss(s, t, self.masks[b](t), self.reconstructors[b][level])
            for b in self.branches
        }

    def level_loss(self, level: str, s: torch.Tensor, t: torch.Tensor) -> Dict[str, torch.Tensor]:
        """:meth:`branch_losses`, weighted per branch by :meth:`weighted_levels`."""
        return self.branch_losses(level, s, t)
