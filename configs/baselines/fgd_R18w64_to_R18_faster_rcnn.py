"""FGD (focal and global distillation, Yang et al. 2022; its RetinaNet defaults): Faster R-CNN R18w64 -> R18."""
from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import fgd as _fgd

_fgd.in_features = LEVELS
_fgd.channels = "${...teachers.model.backbone.out_channels}"
# weight: the one rule of every shipped Faster R-CNN distillation config (docs/RESULTS.md,
# "Loss weights"): the distillation loss is 0.1x the detection loss where the benchmark
# rows start (the warm-up checkpoint, the trained teacher), by tools/loss_scale.py over
# 200 training batches (docs/results/loss_scale/fgd.txt): at the previous 3.8e-4 it
# measured 0.25x (standard error 5.7%), so 3.8e-4 x 0.4
_fgd.weight = 1.5e-4
model.distill_losses = [_fgd]
train.output_dir = "./output/baselines/fgd_R18w64_to_R18_faster_rcnn"
