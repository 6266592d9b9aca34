"""Feature-imitation baselines: FitNet, PKD and CWD.

Each module applies one function of :mod:`d2kd.losses.functional` to every
level in ``in_features`` and returns ``{"loss_<method>_<level>": weight * loss}``
(:meth:`DistillLoss.weighted_levels`), with s, t of shape (N, C, H, W) per level.
The teacher features are detached: no gradient ever reaches the teacher.
"""
from typing import List

from . import functional as LF
from .common import check_non_negative, check_positive
from .base import DistillLoss

__all__ = ["FitNetLoss", "PKDLoss", "CWDLoss"]


class FitNetLoss(DistillLoss):
    """FitNet hint loss: :func:`~d2kd.losses.functional.feature_mse` per level.

    Keys: ``loss_fitnet_<level>``.

    Args:
        in_features: student level names, e.g. ``["p3", "p4", "p5"]``.
        weight: loss weight.
    """

    method = "fitnet"

    def level_loss(self, level, s, t):
        return LF.feature_mse(s, t)


class PKDLoss(DistillLoss):
    """PKD (Pearson correlation) loss: :func:`~d2kd.losses.functional.pkd_loss` per level.

    Keys: ``loss_pkd_<level>``. Also DFMSD's semantic feature alignment.

    Args:
        in_features: student level names.
        weight: loss weight (the PKD paper uses 6 for RetinaNet/FCOS students).
        eps: added to the per-channel std.
    """

    method = "pkd"

    def __init__(self, *, in_features: List[str], weight: float = 1.0, eps: float = 1e-6):
        super().__init__(in_features=in_features, weight=weight)
        self.eps = check_non_negative(type(self).__name__, "eps", eps)

    def level_loss(self, level, s, t):
        return LF.pkd_loss(s, t, eps=self.eps)


class CWDLoss(DistillLoss):
    """Channel-wise distillation: :func:`~d2kd.losses.functional.cwd_loss` per level.

    Keys: ``loss_cwd_<level>``. Also MKD's feature alignment term ``L_FAD``.

    Args:
        in_features: student level names.
        weight: loss weight.
        tau: softmax temperature, > 0.
    """

    method = "cwd"

    def __init__(self, *, in_features: List[str], weight: float = 1.0, tau: float = 1.0):
        super().__init__(in_features=in_features, weight=weight)
        self.tau = check_positive(type(self).__name__, "tau (softmax temperature)", tau)

    def level_loss(self, level, s, t):
        return LF.cwd_loss(s, t, tau=self.tau)
