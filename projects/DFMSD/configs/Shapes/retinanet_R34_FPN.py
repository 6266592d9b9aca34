"""The weaker RetinaNet teacher of the homogeneous SAL pair: half-width ResNet-34,
64-channel FPN p3-p7; otherwise (data, schedule, heads) the R50 teacher of
configs/Shapes/retinanet_R50_FPN.py. Same model and checkpoint path as
projects/MKD/configs/Shapes/retinanet_R34_FPN.py: train either once.
"""
from d2kd.config import zoo

_base = zoo.get_config("Shapes/retinanet_R50_FPN.py")
dataloader, lr_multiplier, model, optimizer, train = (
    _base.dataloader, _base.lr_multiplier, _base.model, _base.optimizer, _base.train
)

model.backbone.bottom_up.stages.depth = 34
train.output_dir = "./output/teachers/retinanet_R34_FPN"
