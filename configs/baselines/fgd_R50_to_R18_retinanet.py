"""FGD (focal and global distillation, Yang et al. 2022; its RetinaNet defaults): RetinaNet R50 -> R18."""
from ..common.distill import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import fgd as _fgd

_fgd.in_features = LEVELS
_fgd.channels = "${...teachers.model.backbone.out_channels}"
model.distill_losses = [_fgd]
train.output_dir = "./output/baselines/fgd_R50_to_R18_retinanet"
