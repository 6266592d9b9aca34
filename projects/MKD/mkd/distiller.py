"""MKDLoss: the whole MKD distillation term of eq. 6, as one configurable module."""
from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from d2kd.losses.common import check_non_negative
from d2kd.losses.base import DistillContext, DistillLoss

from .losses import FADLoss, FDMDLoss, FeatureMSELoss, MultiscaleLoss

__all__ = ["MKDLoss", "TERMS"]

TERMS = ("fea", "multiscale", "fdmd", "fad")


class MKDLoss(DistillLoss):
    """MKD (eq. 6): ``alpha * (w_fea L_fea + w_ms L_Multiscale + w_fdmd L_FDMD + w_fad L_FAD)``.

    The detection loss ``L_det`` of eq. 6 is the student's own; this module
    returns the distillation part, one entry per term and level so that each
    shows in ``metrics.json``::

        loss_mkd_fea_<level>, loss_mkd_multiscale_<level>,
        loss_mkd_fdmd_<level>, loss_mkd_fad_<level>

    each already multiplied by ``alpha`` and its term weight; their sum is the
    distillation part of eq. 6, summed over levels. A switched-off term
    (``use_<term>=False``, the ablations of paper table 4) is neither built nor
    computed. ``alpha`` and the term weights are read at every forward, so a
    hook may change them during training.

    Args:
        in_features: student level names, e.g. ``["p3", "p4", "p5"]``.
        channels: the teacher's channel count per level (an int or a dict
            level -> int); needed only for the FDMD generators.
        alpha: the KD loss weight of eq. 6 (paper table 5: 0.1, 1.0, 5.0), >= 0.
        use_fea, use_multiscale, use_fdmd, use_fad: switch each term on or off.
        fea_weight, multiscale_weight, fdmd_weight, fad_weight: per-term weights
            inside the bracket of eq. 6 (1.0 in the paper), >= 0.
        kernels: pooling sizes of L_Multiscale.
        zeta: frequency mask ratio of L_FDMD, in [0, 1].
        use_generator: L_FDMD reconstructs through a conv3x3-ReLU-conv3x3
            generator (default), or compares the masked feature directly
            (``False``, the paper's literal eq. 4).
        tau: softmax temperature of L_FAD, > 0.
    """

    method = "mkd"
    weight_key = "alpha"  # eq. 6's KD loss weight multiplies every term (``weight`` stays 1)

    def __init__(
        self,
        *,
        in_features: List[str],
        channels: Optional[Union[int, Mapping[str, int]]] = None,
        alpha: float = 1.0,
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
    ):
        super().__init__(in_features=in_features, weight=1.0)
        owner = type(self).__name__
        self.alpha = check_non_negative(owner, "alpha (KD loss weight)", alpha)
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
            scale = self.alpha * self.term_weights[name]
            losses.update(self.weighted_levels(term.level_loss, student, teacher, weight=scale, suffix=name))
        return losses

    def extra_repr(self) -> str:
        weights = ", ".join(f"{n}={self.term_weights[n]}" for n in self.terms)
        return f"in_features={self.in_features}, alpha={self.alpha}, weights=({weights})"
