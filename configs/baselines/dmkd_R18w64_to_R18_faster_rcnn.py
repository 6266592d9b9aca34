"""DMKD dual (spatial + channel) attention-guided masking, our reading of DFMSD eq. 2-3 (see DESIGN.md): Faster R-CNN R18w64 -> R18."""
from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import dmkd as _dmkd

_dmkd.in_features = LEVELS
_dmkd.channels = "${...teachers.model.backbone.out_channels}"
# weight: the benchmark's calibration (docs/RESULTS.md, "Loss weights"): the distillation
# loss is 0.1x the detection loss at the start; at weight=2e-5 tools/loss_scale.py measured 127x
_dmkd.weight = 1.6e-8
model.distill_losses = [_dmkd]
train.output_dir = "./output/baselines/dmkd_R18w64_to_R18_faster_rcnn"
