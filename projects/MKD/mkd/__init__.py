"""MKD: multiscale, frequency-domain mask and feature-alignment distillation.

:class:`MKDLoss` is the method (paper eq. 6) as one distillation loss for
:class:`d2kd.modeling.DistillationDetector`; the four terms are also usable
alone. See projects/MKD/README.md.
"""
from .distiller import TERMS, MKDLoss
from .losses import FADLoss, FDMDLoss, FeatureMSELoss, MultiscaleLoss

__all__ = ["MKDLoss", "TERMS", "FeatureMSELoss", "MultiscaleLoss", "FDMDLoss", "FADLoss"]
