"""The smaller RetinaNet teacher of paper table 3: half-width ResNet-34, 64-channel
FPN p3-p7; otherwise (data, schedule, heads) the R50 teacher of
configs/Shapes/retinanet_R50_FPN.py. Its checkpoint is what
mkd_R34_to_R18_retinanet.py loads."""
from .....configs.Shapes.retinanet_R50_FPN import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.depth = 34
train.output_dir = "./output/teachers/retinanet_R34_FPN"
