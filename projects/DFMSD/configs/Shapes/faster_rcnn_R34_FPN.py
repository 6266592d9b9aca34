"""The weaker Faster R-CNN teacher of the SAL pairs: half-width ResNet-34, 64-channel
FPN p2-p6; otherwise (data, schedule, heads) the R50 teacher of
configs/Shapes/faster_rcnn_R50_FPN.py. Its model is ../common/weak_teacher_faster_rcnn.py's.
"""
from d2kd.config import zoo
from ..common.weak_teacher_faster_rcnn import model

dataloader = zoo.get_config("common/data/shapes.py").dataloader
_optim = zoo.get_config("common/optim.py")
optimizer, lr_multiplier = _optim.AdamW, _optim.lr_multiplier
train = zoo.get_config("common/train.py").train

optimizer.lr = 2e-3  # the Faster R-CNN shapes rate (configs/common/optim.py)
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/teachers/faster_rcnn_R34_FPN"
