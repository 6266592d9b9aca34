"""DMKD dual (spatial + channel) attention-guided masking, our reading of DFMSD eq. 2-3 (see docs/LOSSES.md): RetinaNet R50 -> R18."""
from ..common.distill import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import dmkd as _dmkd

_dmkd.in_features = LEVELS
_dmkd.channels = "${...teachers.model.backbone.out_channels}"
model.distill_losses = [_dmkd]
train.output_dir = "./output/baselines/dmkd_R50_to_R18_retinanet"
