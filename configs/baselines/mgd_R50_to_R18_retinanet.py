"""MGD (masked generative distillation, Yang et al. 2022; its default weight and mask ratio): RetinaNet R50 -> R18."""
from ..common.distill import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import mgd as _mgd

_mgd.in_features = LEVELS
_mgd.channels = "${...teachers.model.backbone.out_channels}"
model.distill_losses = [_mgd]
train.output_dir = "./output/baselines/mgd_R50_to_R18_retinanet"
