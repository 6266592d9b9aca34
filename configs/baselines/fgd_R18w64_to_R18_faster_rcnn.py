"""FGD (focal and global distillation, Yang et al. 2022; its RetinaNet defaults): Faster R-CNN R18w64 -> R18."""
from detectron2.config import LazyCall as L

from d2kd.losses import FGDLoss

from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train

model.distill_losses = [L(FGDLoss)(in_features=LEVELS, channels="${...teachers.model.backbone.out_channels}")]
train.output_dir = "./output/baselines/fgd_R18w64_to_R18_faster_rcnn"
