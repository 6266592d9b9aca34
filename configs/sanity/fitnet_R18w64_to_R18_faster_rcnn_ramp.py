"""FitNet from the independently trained R18w64 teacher (configs/baselines/
fitnet_R18w64_to_R18_faster_rcnn.py) with the distillation weight ramped up over the
first 20% of the schedule and decayed to 0 by its end (configs/common/distill_schedules.py):
the weight-schedule row of the sanity profile (docs/RESULTS.md).
"""
from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distill_schedules import ramp_then_decay as _schedule
from ..common.distillers import fitnet as _fitnet

_fitnet.in_features = LEVELS
# weight: that of the FitNet baseline configs/baselines/fitnet_R18w64_to_R18_faster_rcnn.py
_fitnet.weight = 4.7e-4
model.distill_losses = [_fitnet]
model.distill_schedule = _schedule
train.output_dir = "./output/sanity/fitnet_R18w64_to_R18_faster_rcnn_ramp"
