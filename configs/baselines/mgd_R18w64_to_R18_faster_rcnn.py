"""MGD (masked generative distillation, Yang et al. 2022; its default weight and mask ratio): Faster R-CNN R18w64 -> R18."""
from detectron2.config import LazyCall as L

from d2kd.losses import MGDLoss

from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train

model.distill_losses = [L(MGDLoss)(in_features=LEVELS, channels="${...teachers.model.backbone.out_channels}")]
train.output_dir = "./output/baselines/mgd_R18w64_to_R18_faster_rcnn"
