"""FitNet (feature MSE on every FPN level): Faster R-CNN R18w64 teacher -> R18 student."""
from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import fitnet as _fitnet

_fitnet.in_features = LEVELS
# weight: the benchmark's calibration (docs/RESULTS.md, "Loss weights"): the distillation
# loss is 0.1x the detection loss at the start; at weight=1.0 tools/loss_scale.py measured 44x
_fitnet.weight = 2.3e-3
model.distill_losses = [_fitnet]
train.output_dir = "./output/baselines/fitnet_R18w64_to_R18_faster_rcnn"
