"""FGD: focal and global distillation (Yang et al., CVPR 2022).

Per level, with F^S the (adapted) student and F^T the teacher feature:

- foreground mask M and scale mask S from the ground-truth boxes
  (:func:`foreground_background_masks`);
- teacher attention ``A^S = H*W * softmax(mean_c |F^T| / T)`` (N, 1, H, W) and
  ``A^C = C * softmax(mean_hw |F^T| / T)`` (N, C, 1, 1) (:func:`fgd_attention`);
- focal loss ``alpha * sum M S A^S A^C (F^T - F^S)^2``
  ``+ beta * sum (1-M) S A^S A^C (F^T - F^S)^2``;
- attention loss ``gamma * (|A^S_t - A^S_s|_1 + |A^C_t - A^C_s|_1)``;
- global loss ``lambda * sum (R_t(F^T) - R_s(F^S))^2`` with GcBlock-style
  context modules R (:class:`GlobalContextBlock`).

Every sum runs over (C, H, W) and is divided by N, as in the authors' code.
"""
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_non_negative, check_positive, level_channels, put_scalar
from .base import DistillContext, DistillLoss

__all__ = ["FGDLoss", "GlobalContextBlock", "fgd_attention", "foreground_background_masks"]


def _acc(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def foreground_background_masks(
    boxes: Sequence[torch.Tensor],
    stride: float,
    height: int,
    width: int,
    dtype: torch.dtype = torch.float32,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """FGD's area-normalised foreground and background masks on one feature level.

    A box (x0, y0, x1, y1) in input pixels covers the feature cells that its
    scaled copy (divided by ``stride``) overlaps: columns ``floor(x0/s)`` to
    ``ceil(x1/s) - 1`` and the same for rows (at least one cell, clipped to the
    map). Those cells get ``1 / (number of cells the box covers)``; where boxes
    overlap the larger value (the smaller box) wins. The background mask is 1 on
    every cell no box covers, divided by the number of such cells (all zero if
    there are none).

    Args:
        boxes: per image, a (B_i, 4) XYXY tensor in input pixels (B_i may be 0).
        stride: level stride in pixels.
        height, width: feature size (H, W).
        dtype: floating dtype of the masks.

    Returns:
        (foreground, background), each (N, 1, H, W) on the boxes' device.
    """
    if not stride > 0:
        raise ValueError(f"stride must be > 0, got {stride}")
    if not boxes:
        raise ValueError("foreground_background_masks needs the boxes of at least one image")
    device = boxes[0].device
    rows = torch.arange(height, device=device, dtype=dtype)
    cols = torch.arange(width, device=device, dtype=dtype)
    fg = []
    for b in boxes:
        b = b.detach().to(device=device, dtype=dtype).reshape(-1, 4) / stride
        if b.shape[0] == 0:
            fg.append(torch.zeros((height, width), device=device, dtype=dtype))
            continue
        x0 = b[:, 0].floor().clamp(0, width - 1)
        y0 = b[:, 1].floor().clamp(0, height - 1)
        x1 = torch.maximum(b[:, 2].ceil().clamp(max=width), x0 + 1)
        y1 = torch.maximum(b[:, 3].ceil().clamp(max=height), y0 + 1)
        in_x = (cols[None] >= x0[:, None]) & (cols[None] < x1[:, None])  # (B, W)
        in_y = (rows[None] >= y0[:, None]) & (rows[None] < y1[:, None])  # (B, H)
        inside = in_y[:, :, None] & in_x[:, None, :]  # (B, H, W)
        area = (x1 - x0) * (y1 - y0)
        fg.append((inside.to(dtype) / area[:, None, None]).amax(dim=0))
    fg = torch.stack(fg)[:, None]
    bg = (fg == 0).to(dtype)
    bg = bg / bg.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
    return fg, bg


def fgd_attention(x: torch.Tensor, temperature: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """FGD spatial and channel attention (FGD eq. 2-5).

    Args:
        x: (N, C, H, W) feature.
        temperature: T > 0.

    Returns:
        spatial ``H*W * softmax_hw(mean_c |x| / T)`` (N, 1, H, W) and channel
        ``C * softmax_c(mean_hw |x| / T)`` (N, C, 1, 1); each sums to H*W (resp. C) per image.
    """
    n, c, h, w = x.shape
    a = x.abs()
    spatial = F.softmax(a.mean(dim=1).reshape(n, h * w) / temperature, dim=1)
    channel = F.softmax(a.mean(dim=(2, 3)) / temperature, dim=1)
    return (h * w) * spatial.reshape(n, 1, h, w), c * channel.reshape(n, c, 1, 1)


class GlobalContextBlock(nn.Module):
    """GcBlock-style relation module R of FGD's global loss.

    ``R(x) = x + W2 relu(LN(W1 sum_j softmax_j(W_k x_j) x_j))``, (N, C, H, W) -> (N, C, H, W):
    attention pooling with a 1x1 conv W_k, then a bottleneck (C -> C/2 -> C) whose
    last conv starts at zero, so R starts as the identity.

    Args:
        channels: C.
    """

    def __init__(self, channels: int):
        super().__init__()
        hidden = max(1, channels // 2)
        self.conv_mask = nn.Conv2d(channels, 1, kernel_size=1)
        self.channel_add = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.LayerNorm([hidden, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )
        nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in")
        nn.init.zeros_(self.conv_mask.bias)
        nn.init.zeros_(self.channel_add[-1].weight)
        nn.init.zeros_(self.channel_add[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        weights = F.softmax(self.conv_mask(x).reshape(n, 1, h * w), dim=2)  # (N, 1, HW)
        context = torch.bmm(x.reshape(n, c, h * w), weights.transpose(1, 2))  # (N, C, 1)
        return x + self.channel_add(context.reshape(n, c, 1, 1))


class FGDLoss(DistillLoss):
    """Focal and global distillation. Keys: ``loss_fgd_<level>``, the weighted
    sum of the four terms; the unweighted terms summed over levels go to the
    event storage as ``fgd/{fg,bg,attention,global}`` when one is active.

    Needs ``context.instances`` (``gt_boxes`` in the student's input pixels) and
    ``context.strides``. The padded border counts as background. As in the
    authors' code, the student and the teacher get separate context modules.

    Args:
        in_features: student level names.
        channels: the (teacher-side) channel count, an int or a dict level -> int.
        weight: multiplies the whole loss.
        temperature: attention temperature T.
        alpha, beta: foreground / background focal loss weights.
        gamma: attention loss weight.
        lambda_: global loss weight.

    Defaults are FGD's RetinaNet (ResNeXt-101 -> ResNet-50) values.
    """

    method = "fgd"

    def __init__(
        self,
        *,
        in_features: List[str],
        channels: Union[int, Mapping[str, int]],
        weight: float = 1.0,
        temperature: float = 0.5,
        alpha: float = 1e-3,
        beta: float = 5e-4,
        gamma: float = 5e-4,
        lambda_: float = 5e-6,
    ):
        super().__init__(in_features=in_features, weight=weight)
        owner = type(self).__name__
        self.temperature = check_positive(owner, "temperature", temperature)
        self.alpha = check_non_negative(owner, "alpha", alpha)
        self.beta = check_non_negative(owner, "beta", beta)
        self.gamma = check_non_negative(owner, "gamma", gamma)
        self.lambda_ = check_non_negative(owner, "lambda_", lambda_)
        per_level = level_channels(owner, channels, self.in_features)
        self.context_student = nn.ModuleDict(
            {f: GlobalContextBlock(c) for f, c in per_level.items()}
        )
        self.context_teacher = nn.ModuleDict(
            {f: GlobalContextBlock(c) for f, c in per_level.items()}
        )

    def _boxes(self, context: DistillContext, n: int) -> List[torch.Tensor]:
        if context.instances is None:
            raise ValueError(
                "FGDLoss needs ground-truth boxes: context.instances is None; "
                "run it in training with annotated images"
            )
        if len(context.instances) != n:
            raise ValueError(
                f"FGDLoss: {len(context.instances)} instances for a batch of {n} features"
            )
        boxes = []
        for inst in context.instances:
            gt = inst.gt_boxes
            boxes.append(gt.tensor if hasattr(gt, "tensor") else gt)
        return boxes

    def level_terms(
        self, level: str, s: torch.Tensor, t: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        """The four unweighted terms of one level: ``fg``, ``bg``, ``attention``, ``global``.

        Args:
            level: selects the context modules.
            s, t: (N, C, H, W) student and (detached) teacher features.
            fg, bg: (N, 1, H, W) masks from :func:`foreground_background_masks`.
        """
        n = s.shape[0]
        s32, t32 = _acc(s), _acc(t)
        spatial_t, channel_t = fgd_attention(t32, self.temperature)
        spatial_s, channel_s = fgd_attention(s32, self.temperature)
        weighted = (s32 - t32).pow(2) * spatial_t * channel_t
        attention = (spatial_s - spatial_t).abs().sum() + (channel_s - channel_t).abs().sum()
        relation = self.context_student[level](s) - self.context_teacher[level](t)
        return {
            "fg": (weighted * fg).sum() / n,
            "bg": (weighted * bg).sum() / n,
            "attention": attention / n,
            "global": _acc(relation).pow(2).sum() / n,
        }

    def level_masks(
        self, level: str, s: torch.Tensor, t: torch.Tensor, context: DistillContext
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """FGD's foreground and background masks of one level, (N, 1, H, W) each, on ``s``'s device."""
        owner = type(self).__name__
        if s.shape != t.shape:
            raise ValueError(
                f"{owner}: student feature {tuple(s.shape)} and teacher feature "
                f"{tuple(t.shape)} of level {level!r} must have the same shape"
            )
        if level not in context.strides:
            raise ValueError(f"{owner}: context.strides has no stride for level {level!r}")
        n, _, h, w = s.shape
        fg, bg = foreground_background_masks(
            self._boxes(context, n), context.strides[level], h, w, dtype=_acc(s).dtype
        )
        return fg.to(s.device), bg.to(s.device)

    def forward(
        self,
        student: Dict[str, torch.Tensor],
        teacher: Dict[str, torch.Tensor],
        context: DistillContext,
    ) -> Dict[str, torch.Tensor]:
        """FGD eq. 6-9 per level: ``weight * (alpha L_fg + beta L_bg + gamma L_at + lambda L_global)``."""
        totals = {"fg": 0.0, "bg": 0.0, "attention": 0.0, "global": 0.0}

        def level_loss(level, s, t):
            terms = self.level_terms(level, s, t, *self.level_masks(level, s, t, context))
            for k, v in terms.items():
                totals[k] = totals[k] + v.detach()
            return (
                self.alpha * terms["fg"]
                + self.beta * terms["bg"]
                + self.gamma * terms["attention"]
                + self.lambda_ * terms["global"]
            )

        losses = self.weighted_levels(level_loss, student, teacher)
        for k, v in totals.items():
            put_scalar(f"fgd/{k}", v)
        return losses
