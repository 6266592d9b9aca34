"""MKD on the bundled shapes dataset: RetinaNet R18 (half width) student, RetinaNet R50 teacher.

The main MKD run (paper table 1; the "Ours" row of table 4 and the alpha = 1.0
row of table 5). Student, teacher, data, schedule and ``min_input_size`` come
from configs/common/distill.py, the base of configs/baselines/*, so the run
compares one for one with the baselines and with the plain student
configs/Shapes/retinanet_R18_FPN.py (same schedule).

Its loss weights are not set by the benchmark's rule (see configs/common/distill.py,
"Loss weights"): measure them with tools/loss_scale.py and your trained teacher.

Teacher checkpoint first (see projects/MKD/README.md)::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/retinanet_R50_FPN.py
"""
from d2kd.config import zoo
from ..common.mkd_loss import mkd_loss as _mkd_loss

_base = zoo.get_config("common/distill.py")
dataloader, lr_multiplier, model, optimizer, train = (
    _base.dataloader, _base.lr_multiplier, _base.model, _base.optimizer, _base.train
)

# Strides 8-32, as the paper's RTMDet distils P3-P5. At the smallest training
# input (192 px) p5 is 6x6, while p6 (3x3) and p7 (2x2) are too small for the
# 4x4 pooling of L_Multiscale.
_mkd_loss.in_features = ["p3", "p4", "p5"]
_mkd_loss.channels = "${...teachers.model.backbone.out_channels}"
model.distill_losses = [_mkd_loss]
train.output_dir = "./output/MKD/mkd_R50_to_R18_retinanet"
