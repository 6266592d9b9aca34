"""MKD's losses (Xu et al., "MKD: Multi-Knowledge Distillation for Real-Time
Object Detection on Edge Devices"): the four terms, each a :class:`DistillLoss`
usable on its own in ``DistillationDetector(distill_losses=[...])``, and
:class:`MKDLoss`, the method (eq. 6) as one loss of the four.

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
import warnings
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from d2kd.losses import FeatureGenerator
from d2kd.losses import functional as LF
from d2kd.losses.base import DistillContext, DistillLoss
from d2kd.losses.common import (
    Default,
    check_non_negative,
    check_positive,
    check_ratio,
    level_channels,
    renamed_argument,
)

__all__ = [
    "MKDLoss",
    "TERMS",
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


TERMS = ("fea", "multiscale", "fdmd", "fad")

# MKDLoss's default weight (the paper's alpha = 1, table 5), told apart from a weight given
_DEFAULT_WEIGHT = Default(1.0)


class MKDLoss(DistillLoss):
    """MKD (eq. 6): ``weight * (w_fea L_fea + w_ms L_Multiscale + w_fdmd L_FDMD + w_fad L_FAD)``.

    ``weight`` is the paper's alpha, the KD loss weight of eq. 6: the outer weight,
    named ``weight`` as in every other loss. The detection loss ``L_det`` of eq. 6
    is the student's own; this module returns the distillation part, one entry per
    term and level so that each shows in ``metrics.json``::

        loss_mkd_fea_<level>, loss_mkd_multiscale_<level>,
        loss_mkd_fdmd_<level>, loss_mkd_fad_<level>

    each already multiplied by ``weight`` and its term weight; their sum is the
    distillation part of eq. 6, summed over levels. A switched-off term
    (``use_<term>=False``, the ablations of paper table 4) is neither built nor
    computed. ``weight`` and the term weights are read at every forward, so a
    hook may change them during training.

    Args:
        in_features: student level names, e.g. ``["p3", "p4", "p5"]``.
        channels: the teacher's channel count per level (an int or a dict
            level -> int); needed only for the FDMD generators.
        weight: the paper's alpha, the KD loss weight of eq. 6 (paper table 5:
            0.1, 1.0, 5.0; default 1.0), >= 0.
        use_fea, use_multiscale, use_fdmd, use_fad: switch each term on or off.
        fea_weight, multiscale_weight, fdmd_weight, fad_weight: per-term weights
            inside the bracket of eq. 6 (1.0 in the paper), >= 0.
        kernels: pooling sizes of L_Multiscale.
        zeta: frequency mask ratio of L_FDMD, in [0, 1].
        use_generator: L_FDMD reconstructs through a conv3x3-ReLU-conv3x3
            generator (default), or compares the masked feature directly
            (``False``, the paper's literal eq. 4).
        tau: softmax temperature of L_FAD, > 0.
        alpha: deprecated, the old name of ``weight`` (works with a deprecation
            warning; giving both is an error).
    """

    method = "mkd"
    renamed_arguments = {"alpha": "weight"}

    def __init__(
        self,
        *,
        in_features: List[str],
        channels: Optional[Union[int, Mapping[str, int]]] = None,
        weight: float = _DEFAULT_WEIGHT,
        use_fea: bool = True,
        use_multiscale: bool = True,
        use_fdmd: bool = True,
        use_fad: bool = True,
        fea_weight: float = 1.0,
        multiscale_weight: float = 1.0,
        fdmd_weight: float = 1.0,
        fad_weight: float = 1.0,
        kernels: Sequence[int] = (1, 2, 4),
        zeta: float = 0.5,
        use_generator: bool = True,
        tau: float = 1.0,
        alpha: Optional[float] = None,
    ):
        owner = type(self).__name__
        weight = renamed_argument(owner, "weight", weight, _DEFAULT_WEIGHT, "alpha", alpha)
        weight = check_non_negative(owner, "weight (eq. 6's alpha, the KD loss weight)", weight)
        super().__init__(in_features=in_features, weight=weight)
        switches = dict(fea=use_fea, multiscale=use_multiscale, fdmd=use_fdmd, fad=use_fad)
        weights = dict(
            fea=fea_weight, multiscale=multiscale_weight, fdmd=fdmd_weight, fad=fad_weight
        )
        self.term_weights = {
            name: check_non_negative(owner, f"{name}_weight", w) for name, w in weights.items()
        }
        if not any(switches.values()):
            raise ValueError(
                f"{owner}: every term is switched off (use_fea, use_multiscale, use_fdmd, "
                "use_fad); switch one on, or remove the loss from distill_losses"
            )
        levels = self.in_features
        # every argument is checked, also those of a switched-off term
        candidates = {
            "fea": FeatureMSELoss(in_features=levels),
            "multiscale": MultiscaleLoss(in_features=levels, kernels=kernels),
            "fdmd": FDMDLoss(
                in_features=levels,
                channels=channels,
                zeta=zeta,
                use_generator=bool(use_generator and use_fdmd),
            ),
            "fad": FADLoss(in_features=levels, tau=tau),
        }
        self.terms = nn.ModuleDict({name: candidates[name] for name in TERMS if switches[name]})

    @property
    def alpha(self) -> float:
        """Deprecated: the old name of :attr:`weight` (setting it sets ``weight``)."""
        return self.weight

    @alpha.setter
    def alpha(self, value: float) -> None:
        warnings.warn(f"{type(self).__name__}.alpha is deprecated: use .weight", DeprecationWarning, stacklevel=2)
        self.weight = value

    @property
    def enabled_terms(self) -> List[str]:
        """Names of the terms that are on, in the order of eq. 6."""
        return list(self.terms.keys())

    def check_feature_sizes(self, sizes: Dict[str, int]) -> None:
        for term in self.terms.values():
            term.check_feature_sizes(sizes)

    def forward(
        self,
        student: Dict[str, torch.Tensor],
        teacher: Dict[str, torch.Tensor],
        context: DistillContext,
    ) -> Dict[str, torch.Tensor]:
        losses = {}
        for name, term in self.terms.items():
            scale = self.weight * self.term_weights[name]
            losses.update(self.weighted_levels(term.level_loss, student, teacher, weight=scale, suffix=name))
        return losses

    def extra_repr(self) -> str:
        weights = ", ".join(f"{n}={self.term_weights[n]}" for n in self.terms)
        return f"in_features={self.in_features}, weight={self.weight}, weights=({weights})"
