"""Paper table 2 (instance segmentation): MKD into the Mask R-CNN R18 (width 32)
student of mask_rcnn_R18_FPN.py (same data, masks and schedule), evaluated for
bbox and segm AP.

The teacher is the Faster R-CNN R18w64 of mkd_R18w64_to_R18_faster_rcnn.py: MKD
distils backbone (FPN) features only ("we distill between backbone
architectures", paper section 4.1), and any detector trained on the same
images provides them; reusing the detection teacher saves the benchmark a
teacher training. A Mask R-CNN teacher works the same way
(``model.teachers.model`` from mask_rcnn_R50_FPN.py and its checkpoint).

Teacher checkpoint first::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/faster_rcnn_R18w64_FPN.py
"""
from d2kd.config import zoo
from ..common.mkd_loss import mkd_loss as _mkd_loss
from ..common.shapes_masks import dataloader

_base = zoo.get_config("common/distill_faster_rcnn.py")
lr_multiplier, model, optimizer, train = _base.lr_multiplier, _base.model, _base.optimizer, _base.train
_student = zoo.get_config("common/models/mask_rcnn.py").model

_student.roi_heads.num_classes = 6
model.student = _student
# the levels of mkd_R18w64_to_R18_faster_rcnn.py (strides 4-32, those the ROI heads pool from)
_mkd_loss.in_features = ["p2", "p3", "p4", "p5"]
_mkd_loss.channels = "${...teachers.model.backbone.out_channels}"
# weight (the paper's alpha): the same rule as the Faster R-CNN config's, measured for this
# student (its detection loss includes the mask loss): at 1.6e-4 tools/loss_scale.py measured
# 0.094x over 200 training batches (standard error 4.5%; docs/results/loss_scale/mkd_mask.txt),
# so 1.6e-4 x 1.07
_mkd_loss.weight = 1.7e-4
model.distill_losses = [_mkd_loss]
train.output_dir = "./output/MKD/mkd_R18w64_to_R18_mask_rcnn"
