"""The smaller RetinaNet teacher of paper table 3: half-width ResNet-34, 64-channel
FPN p3-p7; otherwise (data, schedule, heads) the R50 teacher of
configs/Shapes/retinanet_R50_FPN.py. Its checkpoint is what
mkd_R34_to_R18_retinanet.py loads."""
from d2kd.config import zoo

model = zoo.get_config("common/models/retinanet_r50.py").model
dataloader = zoo.get_config("common/data/shapes.py").dataloader
_optim = zoo.get_config("common/optim.py")
optimizer, lr_multiplier = _optim.AdamW, _optim.lr_multiplier
train = zoo.get_config("common/train.py").train

model.num_classes = 6
model.backbone.bottom_up.stages.depth = 34
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/teachers/retinanet_R34_FPN"
