"""Pure loss functions on feature maps (their definitions: docs/LOSSES.md).

Every function takes tensors of shape (N, C, H, W); a student feature ``s`` and
a teacher feature ``t`` must have the same shape (the distillation core applies
adapters and crops before calling a loss). The exact forms below are public
API: the loss modules in :mod:`d2kd.losses` call them and the tests check them
against hand computations.

Half-precision inputs are reduced in float32 (sums over a whole FPN level
overflow float16); float32 and float64 inputs keep their dtype.
"""
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "feature_mse",
    "pkd_loss",
    "cwd_loss",
    "multiscale_loss",
    "frequency_mask",
    "spatial_attention",
    "channel_attention",
    "masked_generation_loss",
]


def _check_4d(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a (N, C, H, W) tensor, got {shape}")


def _check_pair(s: torch.Tensor, t: torch.Tensor) -> None:
    _check_4d("student feature", s)
    _check_4d("teacher feature", t)
    if s.shape != t.shape:
        raise ValueError(
            f"student feature {tuple(s.shape)} and teacher feature {tuple(t.shape)} "
            "must have the same shape; adapt channels and crop before the loss"
        )


def _check_tau(tau: float) -> None:
    if not tau > 0:
        raise ValueError(f"temperature tau must be > 0, got {tau}")


def _acc(x: torch.Tensor) -> torch.Tensor:
    """Upcast half precision to float32 for reductions; keep float32/float64."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def feature_mse(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """FitNet / MKD ``L_fea``: mean over all N*C*H*W elements of (s - t)^2.

    Args:
        s, t: (N, C, H, W) student and teacher features.

    Returns:
        scalar tensor.
    """
    _check_pair(s, t)
    return F.mse_loss(_acc(s), _acc(t), reduction="mean")


def _standardize_per_channel(x: torch.Tensor, eps: float) -> torch.Tensor:
    # statistics over (N, H, W) of each channel; unbiased std (torch default)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / (std + eps)


def pkd_loss(s: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """PKD (Cao et al. 2022) / DFMSD semantic feature alignment (eq. 5).

    Each of ``s`` and ``t`` is standardised per channel over (N, H, W):
    ``x_hat = (x - mean) / (std + eps)`` with the unbiased std. The loss is
    ``mean((s_hat - t_hat)^2) / 2``, which equals ``1 - Pearson(s, t)`` up to the
    eps and the unbiased/biased factor, averaged over channels.

    Args:
        s, t: (N, C, H, W); N*H*W must be at least 2 for the unbiased std.
        eps: added to the std.

    Returns:
        scalar tensor.
    """
    _check_pair(s, t)
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    n, _, h, w = s.shape
    if n * h * w < 2:
        raise ValueError(
            f"pkd_loss needs at least 2 values per channel (N*H*W >= 2), got shape {tuple(s.shape)}"
        )
    s_hat = _standardize_per_channel(_acc(s), eps)
    t_hat = _standardize_per_channel(_acc(t), eps)
    return F.mse_loss(s_hat, t_hat, reduction="mean") / 2


def cwd_loss(s: torch.Tensor, t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Channel-wise distillation (Shu et al. 2021) / MKD ``L_FAD`` (eq. 5).

    Per sample n and channel c, ``p = softmax(x[n, c].flatten() / tau)`` over the
    H*W positions; the loss is

        tau^2 / (N*C) * sum_{n,c} sum_i p^T_i * (log p^T_i - log p^S_i),

    i.e. KL(teacher || student) summed over positions, averaged over N*C.

    Args:
        s, t: (N, C, H, W).
        tau: softmax temperature, > 0.

    Returns:
        scalar tensor.
    """
    _check_pair(s, t)
    _check_tau(tau)
    n, c, h, w = s.shape
    log_p_s = F.log_softmax(_acc(s).reshape(n * c, h * w) / tau, dim=1)
    log_p_t = F.log_softmax(_acc(t).reshape(n * c, h * w) / tau, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum()
    return kl * (tau**2) / (n * c)


def _check_kernels(kernels: Sequence[int]) -> None:
    if isinstance(kernels, int) or not len(kernels):
        raise ValueError(f"kernels must be a non-empty sequence of positive ints, got {kernels!r}")
    for k in kernels:
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ValueError(f"kernels must be positive ints, got {k!r} in {tuple(kernels)}")


def multiscale_loss(
    s: torch.Tensor, t: torch.Tensor, kernels: Sequence[int] = (1, 2, 4)
) -> torch.Tensor:
    """MKD ``L_Multiscale`` (eq. 1).

    For each kernel k, both features are average-pooled with kernel k, stride k,
    ``ceil_mode=True`` (a window that hangs over the border averages its valid
    elements only); the term is the mean over elements of the squared
    difference of the pooled maps. The loss is the sum of the terms over k.

    Args:
        s, t: (N, C, H, W).
        kernels: non-empty sequence of positive ints.

    Returns:
        scalar tensor.
    """
    _check_pair(s, t)
    _check_kernels(kernels)
    s, t = _acc(s), _acc(t)
    total = s.new_zeros(())
    for k in kernels:
        if k == 1:  # pooling with kernel 1 is the identity; skipping it saves time, not values
            ps, pt = s, t
        else:
            ps = F.avg_pool2d(s, kernel_size=k, stride=k, ceil_mode=True)
            pt = F.avg_pool2d(t, kernel_size=k, stride=k, ceil_mode=True)
        total = total + F.mse_loss(ps, pt, reduction="mean")
    return total


def frequency_mask(
    x: torch.Tensor, zeta: float, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """MKD frequency-domain mask (eq. 2-3): ``Re(IFFT2(M * FFT2(x)))`` over (H, W).

    ``M`` is a {0, 1} mask of shape (N, 1, H, W), drawn per sample and shared by
    the channels: ``M = 0`` where ``U(0, 1) < zeta``. So ``zeta = 0`` returns x and
    ``zeta = 1`` returns zeros. The mask indexes the unshifted FFT frequencies.

    Args:
        x: (N, C, H, W) real feature.
        zeta: mask ratio in [0, 1].
        generator: optional ``torch.Generator`` on x's device, for reproducible masks.

    Returns:
        (N, C, H, W) tensor with x's dtype.
    """
    _check_4d("feature", x)
    if not 0.0 <= zeta <= 1.0:
        raise ValueError(f"zeta (mask ratio) must be in [0, 1], got {zeta}")
    if x.is_complex():
        raise ValueError(f"frequency_mask expects a real feature, got dtype {x.dtype}")
    n, _, h, w = x.shape
    u = torch.rand((n, 1, h, w), generator=generator, device=x.device)
    xf = _acc(x)
    keep = (u >= zeta).to(xf.dtype)
    spectrum = torch.fft.fft2(xf, dim=(-2, -1))
    out = torch.fft.ifft2(spectrum * keep, dim=(-2, -1)).real
    return out.to(x.dtype)


def spatial_attention(t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Spatial attention of a teacher feature, DFMSD eq. 3 (DMKD).

    ``A^s[n, 0, h, w] = sigmoid( (1 / (C * tau)) * sum_c t[n, c, h, w]^2 )``.

    Args:
        t: (N, C, H, W) teacher feature.
        tau: temperature, > 0.

    Returns:
        (N, 1, H, W) tensor with values in (0, 1).
    """
    return torch.sigmoid(spatial_attention_logits(t, tau))


def spatial_attention_logits(t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """The argument of the sigmoid in :func:`spatial_attention`, (N, 1, H, W).

    Rank positions by these, not by the attention: on real teacher features the
    sigmoid rounds to exactly 1.0 in float32 once the mean square exceeds ~17 tau.
    """
    _check_4d("teacher feature", t)
    _check_tau(tau)
    return _acc(t).pow(2).mean(dim=1, keepdim=True) / tau


def channel_attention(t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Channel attention of a teacher feature, DFMSD eq. 2 (DMKD).

    ``A^c[n, c, 0, 0] = sigmoid( (1 / (H * W * tau)) * sum_{h,w} t[n, c, h, w] )``
    (the signed mean over positions, as eq. 2 is written).

    Args:
        t: (N, C, H, W) teacher feature.
        tau: temperature, > 0.

    Returns:
        (N, C, 1, 1) tensor with values in (0, 1).
    """
    return torch.sigmoid(channel_attention_logits(t, tau))


def channel_attention_logits(t: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """The argument of the sigmoid in :func:`channel_attention`, (N, C, 1, 1)."""
    _check_4d("teacher feature", t)
    _check_tau(tau)
    return _acc(t).mean(dim=(2, 3), keepdim=True) / tau


def masked_generation_loss(
    s: torch.Tensor,
    t: torch.Tensor,
    mask: torch.Tensor,
    generator: Optional[Callable[[torch.Tensor], torch.Tensor]],
) -> torch.Tensor:
    """Masked generative distillation (MGD convention; DFMSD eq. 7).

    ``(1 / N) * sum_{n, c, h, w} (generator(s * mask) - t)^2``: summed over
    (C, H, W), averaged over N. The papers' small loss weights (e.g. MGD's
    alpha = 2e-5, DFMSD's alpha = 5e-7) assume this sum reduction.

    Args:
        s, t: (N, C, H, W) student and teacher features.
        mask: broadcastable to s with the same N, e.g. (N, 1, H, W) spatial or
            (N, C, 1, 1) channel mask; 0 hides, 1 keeps.
        generator: callable mapping (N, C, H, W) to (N, C, H, W) (for example
            :class:`d2kd.losses.FeatureGenerator`); ``None`` means identity.

    Returns:
        scalar tensor.
    """
    _check_pair(s, t)
    _check_4d("mask", mask)
    if mask.shape[0] != s.shape[0] or any(
        m not in (1, d) for m, d in zip(mask.shape[1:], s.shape[1:])
    ):
        raise ValueError(
            f"mask {tuple(mask.shape)} must broadcast to the feature {tuple(s.shape)} "
            "with the same batch size, e.g. (N, 1, H, W) or (N, C, 1, 1)"
        )
    masked = s * mask.to(s.dtype)
    generated = masked if generator is None else generator(masked)
    if generated.shape != t.shape:
        raise ValueError(
            f"generator output {tuple(generated.shape)} and teacher feature "
            f"{tuple(t.shape)} must have the same shape"
        )
    diff = _acc(generated) - _acc(t)
    return diff.pow(2).sum() / s.shape[0]

