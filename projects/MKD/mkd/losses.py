"""The four MKD terms (Xu et al., "MKD: Multi-Knowledge Distillation for
Real-Time Object Detection on Edge Devices"), each a :class:`DistillLoss`
usable on its own in ``DistillationDetector(distill_losses=[...])``.

Every module takes, per paired level, a student and a teacher feature of the
same shape (N, C, H, W) (the core applies adapters and crops first), detaches
the teacher, and returns ``{"loss_mkd_<term>_<level>": weight * value}``.
The values are the pure functions of :mod:`d2kd.losses.functional`
(docs/LOSSES.md); this module adds only per-level bookkeeping, the FDMD
generator and the construction-time checks.

==================  ==================  ===========================================
term (paper)        module              value per level
==================  ==================  ===========================================
L_fea (eq. 6)       FeatureMSELoss      ``feature_mse(s, t)``
L_Multiscale (1)    MultiscaleLoss      ``multiscale_loss(s, t, kernels)``
L_FDMD (2-4)        FDMDLoss            ``feature_mse(G(frequency_mask(s, zeta)), t)``
L_FAD (5)           FADLoss             ``cwd_loss(s, t, tau)``
==================  ==================  ===========================================
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from d2kd.losses import FeatureGenerator
from d2kd.losses import functional as LF
from d2kd.losses.common import check_positive, check_ratio, level_channels
from d2kd.losses.base import DistillLoss

__all__ = [
    "FeatureMSELoss",
    "MultiscaleLoss",
    "FDMDLoss",
    "FADLoss",
    "check_kernels",
]


def check_kernels(owner: str, kernels: Sequence[int]) -> Tuple[int, ...]:
    """``kernels`` as a tuple of positive ints; a ``ValueError`` naming ``owner`` otherwise."""
    if isinstance(kernels, (int, str)) or not isinstance(kernels, Sequence) or not len(kernels):
        raise ValueError(
            f"{owner}: kernels must be a non-empty list of positive ints (pooling sizes), "
            f"got {kernels!r}"
        )
    for k in kernels:
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ValueError(
                f"{owner}: kernels must be positive ints (pooling sizes), got {k!r} in {list(kernels)}"
            )
    return tuple(int(k) for k in kernels)


class _MKDTerm(DistillLoss):
    """One MKD term, ``loss_mkd_<term>_<level>``; the inherited :meth:`forward` weights
    :meth:`level_loss` on every level of ``in_features``."""

    term = ""

    @property
    def method(self) -> str:
        return f"mkd_{self.term}"


class FeatureMSELoss(_MKDTerm):
    """MKD ``L_fea`` (eq. 6): mean squared error between student and teacher features.

    Per level: :func:`~d2kd.losses.functional.feature_mse`, the mean over all
    N*C*H*W elements of (s - t)^2. Keys: ``loss_mkd_fea_<level>``.

    Args:
        in_features: student level names, e.g. ``["p3", "p4", "p5"]``.
        weight: loss weight.
    """

    term = "fea"

    def level_loss(self, level, s, t):
        return LF.feature_mse(s, t)


class MultiscaleLoss(_MKDTerm):
    """MKD ``L_Multiscale`` (eq. 1): L2 between average-pooled features, summed over scales.

    Per level: :func:`~d2kd.losses.functional.multiscale_loss`: for each k in
    ``kernels``, both maps are average-pooled with kernel k and stride k
    (``ceil_mode=True``) and the mean squared difference is taken; the terms
    are summed over k. Keys: ``loss_mkd_multiscale_<level>``.

    Args:
        in_features: student level names.
        weight: loss weight.
        kernels: pooling sizes, positive ints; none may exceed the smallest side
            of a level's map (checked in :meth:`check_feature_sizes` when the
            detector knows ``min_input_size``).
    """

    term = "multiscale"

    def __init__(
        self, *, in_features: List[str], weight: float = 1.0, kernels: Sequence[int] = (1, 2, 4)
    ):
        super().__init__(in_features=in_features, weight=weight)
        self.kernels = check_kernels(type(self).__name__, kernels)

    def check_feature_sizes(self, sizes: Dict[str, int]) -> None:
        too_small = {level: side for level, side in sizes.items() if side < max(self.kernels)}
        if too_small:
            raise ValueError(
                f"{type(self).__name__}: pooling kernel {max(self.kernels)} of kernels="
                f"{list(self.kernels)} is larger than the smallest feature map of levels "
                f"{too_small} (their smallest side, in feature-map cells, for inputs of model.min_input_size px). "
                "Use smaller kernels or drop those levels from in_features."
            )

    def level_loss(self, level, s, t):
        return LF.multiscale_loss(s, t, kernels=self.kernels)

    def extra_repr(self) -> str:
        return f"kernels={list(self.kernels)}"


class FDMDLoss(_MKDTerm):
    """MKD ``L_FDMD`` (eq. 2-4): frequency-domain mask distillation.

    Per level, with s, t of shape (N, C, H, W)::

        s_hat = Re(IFFT2(M * FFT2(s)))       # frequency_mask(s, zeta), eq. 2-3
        loss  = mean((G(s_hat) - t)^2)       # feature_mse, eq. 4

    M is a {0, 1} (N, 1, H, W) mask, a new draw for every sample, level and
    step, with M = 0 where U(0, 1) < zeta. G is a per-level
    :class:`~d2kd.losses.FeatureGenerator` (conv3x3-ReLU-conv3x3, as in MGD);
    with ``use_generator=False`` G is the identity, the paper's literal eq. 4.
    Keys: ``loss_mkd_fdmd_<level>``.

    Args:
        in_features: student level names.
        channels: the teacher's channel count (the student is adapted to it),
            an int for all levels or a dict level -> int; needed only with a generator.
        weight: loss weight.
        zeta: mask ratio, in [0, 1] (0 keeps every frequency, 1 drops all).
        use_generator: reconstruct with G (default) or compare s_hat directly.
    """

    term = "fdmd"

    def __init__(
        self,
        *,
        in_features: List[str],
        channels: Optional[Union[int, Mapping[str, int]]] = None,
        weight: float = 1.0,
        zeta: float = 0.5,
        use_generator: bool = True,
    ):
        super().__init__(in_features=in_features, weight=weight)
        owner = type(self).__name__
        self.zeta = check_ratio(owner, "zeta (frequency mask ratio)", zeta)
        self.generators: Optional[nn.ModuleDict] = None
        if use_generator:
            if channels is None:
                raise ValueError(
                    f"{owner}: channels (the teacher's channel count) is needed to build the "
                    "generators; give it, or set use_generator=False for the paper's literal form"
                )
            per_level = level_channels(owner, channels, self.in_features)
            self.generators = nn.ModuleDict({f: FeatureGenerator(c) for f, c in per_level.items()})

    @property
    def use_generator(self) -> bool:
        return self.generators is not None

    def reconstruct(self, level: str, s: torch.Tensor, generator: Optional[torch.Generator] = None):
        """G(frequency_mask(s, zeta)) for one level: (N, C, H, W) -> (N, C, H, W).

        Args:
            generator: optional ``torch.Generator`` for a reproducible mask.
        """
        masked = LF.frequency_mask(s, self.zeta, generator=generator)
        return masked if self.generators is None else self.generators[level](masked)

    def level_loss(self, level, s, t):
        return LF.feature_mse(self.reconstruct(level, s), t)

    def extra_repr(self) -> str:
        return f"zeta={self.zeta}, use_generator={self.use_generator}"


class FADLoss(_MKDTerm):
    """MKD ``L_FAD`` (eq. 5): feature alignment by channel-wise distributions.

    Per level: :func:`~d2kd.losses.functional.cwd_loss`: per sample and
    channel, softmax over the H*W positions of x / tau; KL(teacher || student)
    summed over positions, times tau^2, averaged over N*C.
    Keys: ``loss_mkd_fad_<level>``.

    Args:
        in_features: student level names.
        weight: loss weight.
        tau: softmax temperature, > 0.
    """

    term = "fad"

    def __init__(self, *, in_features: List[str], weight: float = 1.0, tau: float = 1.0):
        super().__init__(in_features=in_features, weight=weight)
        self.tau = check_positive(type(self).__name__, "tau (softmax temperature)", tau)

    def level_loss(self, level, s, t):
        return LF.cwd_loss(s, t, tau=self.tau)

    def extra_repr(self) -> str:
        return f"tau={self.tau}"
