"""The smaller RetinaNet teacher of paper table 3: half-width ResNet-34, 64-channel
FPN p3-p7; otherwise (data, schedule, heads) the R50 teacher of
configs/Shapes/retinanet_R50_FPN.py. Its checkpoint is what
mkd_R34_to_R18_retinanet.py loads."""
from d2kd.config import zoo

_base = zoo.get_config("Shapes/retinanet_R50_FPN.py")
dataloader, lr_multiplier, model, optimizer, train = (
    _base.dataloader, _base.lr_multiplier, _base.model, _base.optimizer, _base.train
)

model.backbone.bottom_up.stages.depth = 34
train.output_dir = "./output/teachers/retinanet_R34_FPN"
