"""The baselines' distillation losses, one LazyCall node each, for ``model.distill_losses``.

Settings are the defaults of the :mod:`d2kd.losses` classes (the published
ones where the papers give them); ``in_features`` is left to the leaf config,
which also sets ``weight`` where its feature scale needs another one (see
tools/loss_scale.py). Losses with learned parts (MGD's generators, FGD's
global blocks, DMKD's masks and generators) work at the teacher's FPN width,
``channels``, which the leaf config sets, normally by interpolation from the
node's place in ``model.distill_losses``. Import under a private name::

    from ..common.distillers import mgd as _mgd

    _mgd.in_features = LEVELS
    _mgd.channels = "${...teachers.model.backbone.out_channels}"
    model.distill_losses = [_mgd]
"""
from detectron2.config import LazyCall as L

from d2kd.losses import CWDLoss, DualMaskingLoss, FGDLoss, FitNetLoss, MGDLoss, PKDLoss

fitnet = L(FitNetLoss)(in_features=None, weight=1.0)
pkd = L(PKDLoss)(in_features=None, weight=1.0)
cwd = L(CWDLoss)(in_features=None, weight=1.0, tau=1.0)
mgd = L(MGDLoss)(in_features=None, channels=None)
fgd = L(FGDLoss)(in_features=None, channels=None)
dmkd = L(DualMaskingLoss)(in_features=None, channels=None)
