"""The MKD distillation loss with the paper's settings, for ``model.distill_losses``.

Every argument is spelled out so that each is a command-line override, e.g.
``model.distill_losses.0.use_fad=False`` or ``model.distill_losses.0.weight=5.0``.
Leaf configs set ``in_features`` (and ``kernels`` where a level is small) and
``channels``, the teacher's FPN width (the student is adapted to it before the
loss, and the FDMD generators work at that width), normally by interpolation
from the node's place in ``model.distill_losses``::

    _mkd_loss.channels = "${...teachers.model.backbone.out_channels}"

Import it under a private name (``import mkd_loss as _mkd_loss``): a leaf config
exports only ``model``, ``dataloader``, ``optimizer``, ``lr_multiplier`` and ``train``.
"""
from detectron2.config import LazyCall as L

from mkd import MKDLoss

mkd_loss = L(MKDLoss)(
    in_features=["p3", "p4", "p5"],
    channels=None,  # the teacher's FPN width, set by the leaf config
    # the paper's alpha of eq. 6: alpha * (L_fea + L_Multiscale + L_FDMD + L_FAD); paper
    # table 5 picks alpha = 1
    weight=1.0,
    use_fea=True,
    use_multiscale=True,
    use_fdmd=True,
    use_fad=True,
    fea_weight=1.0,
    multiscale_weight=1.0,
    fdmd_weight=1.0,
    fad_weight=1.0,
    kernels=[1, 2, 4],  # L_Multiscale pooling sizes; the largest must fit the smallest map
    zeta=0.5,  # L_FDMD frequency mask ratio
    use_generator=True,  # False: the paper's literal L_FDMD (no conv3x3-ReLU-conv3x3)
    tau=1.0,  # L_FAD softmax temperature
)
