"""PKD (Pearson correlation of normalised features, Cao et al. 2022): Faster R-CNN R18w64 -> R18."""
from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import pkd as _pkd

_pkd.in_features = LEVELS
# weight: the one rule of every shipped Faster R-CNN distillation config (docs/RESULTS.md,
# "Loss weights"): the distillation loss is 0.1x the detection loss where the benchmark
# rows start (the warm-up checkpoint, the trained teacher), by tools/loss_scale.py over
# 200 training batches (docs/results/loss_scale/pkd.txt): at the previous 0.057 it
# measured 0.176x (standard error 0.3%), so 0.057 x 0.57
_pkd.weight = 0.032
model.distill_losses = [_pkd]
train.output_dir = "./output/baselines/pkd_R18w64_to_R18_faster_rcnn"
