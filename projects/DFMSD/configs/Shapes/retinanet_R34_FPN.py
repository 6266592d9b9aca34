"""The weaker RetinaNet teacher of the homogeneous SAL pair: half-width ResNet-34,
64-channel FPN p3-p7; otherwise (data, schedule, heads) the R50 teacher of
configs/Shapes/retinanet_R50_FPN.py. Same model and checkpoint path as
projects/MKD/configs/Shapes/retinanet_R34_FPN.py: train either once.
"""
from d2kd.config import zoo
from ..common.weak_teacher_retinanet import model

dataloader = zoo.get_config("common/data/shapes.py").dataloader
_optim = zoo.get_config("common/optim.py")
optimizer, lr_multiplier = _optim.AdamW, _optim.lr_multiplier
train = zoo.get_config("common/train.py").train

train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/teachers/retinanet_R34_FPN"
