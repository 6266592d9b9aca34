"""The weaker Faster R-CNN teacher of the SAL pairs: half-width ResNet-34, 64-channel
FPN p2-p6; otherwise the R50 teacher of configs/Shapes/faster_rcnn_R50_FPN.py.
"""
from d2kd.config import zoo

_base = zoo.get_config("Shapes/faster_rcnn_R50_FPN.py")
dataloader, lr_multiplier, model, optimizer, train = (
    _base.dataloader, _base.lr_multiplier, _base.model, _base.optimizer, _base.train
)

model.backbone.bottom_up.stages.depth = 34
train.output_dir = "./output/teachers/faster_rcnn_R34_FPN"
