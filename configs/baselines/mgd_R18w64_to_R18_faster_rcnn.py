"""MGD (masked generative distillation, Yang et al. 2022; its mask ratio, the weight calibrated below): Faster R-CNN R18w64 -> R18."""
from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import mgd as _mgd

_mgd.in_features = LEVELS
_mgd.channels = "${...teachers.model.backbone.out_channels}"
# weight: the one rule of every shipped Faster R-CNN distillation config (docs/RESULTS.md,
# "Loss weights"): the distillation loss is 0.1x the detection loss where the benchmark
# rows start (the warm-up checkpoint, the trained teacher), by tools/loss_scale.py over
# 200 training batches (docs/results/loss_scale/mgd.txt): at the previous 2.3e-8 it
# measured 0.104x (standard error 6.3%), so 2.3e-8 x 0.961
_mgd.weight = 2.2e-8
model.distill_losses = [_mgd]
train.output_dir = "./output/baselines/mgd_R18w64_to_R18_faster_rcnn"
