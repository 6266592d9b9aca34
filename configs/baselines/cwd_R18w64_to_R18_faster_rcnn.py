"""CWD (channel-wise distribution KL, Shu et al. 2021): Faster R-CNN R18w64 -> R18."""
from detectron2.config import LazyCall as L

from d2kd.losses import CWDLoss

from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train

model.distill_losses = [L(CWDLoss)(in_features=LEVELS, weight=1.0, tau=1.0)]
train.output_dir = "./output/baselines/cwd_R18w64_to_R18_faster_rcnn"
