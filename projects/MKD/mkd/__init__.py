"""MKD: multiscale, frequency-domain mask and feature-alignment distillation.

:class:`MKDLoss` is the method (paper eq. 6) as one distillation loss for
:class:`d2kd.modeling.DistillationDetector`; the four terms are also usable
alone. See projects/MKD/README.md.
"""
from .losses import TERMS, FADLoss, FDMDLoss, FeatureMSELoss, MKDLoss, MultiscaleLoss

__all__ = ["MKDLoss", "TERMS", "FeatureMSELoss", "MultiscaleLoss", "FDMDLoss", "FADLoss"]
