"""DMKD dual (spatial + channel) attention-guided masking, our reading of DFMSD eq. 2-3 (see DESIGN.md): Faster R-CNN R18w64 -> R18."""
from detectron2.config import LazyCall as L

from d2kd.losses import DualMaskingLoss

from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train

model.distill_losses = [L(DualMaskingLoss)(in_features=LEVELS, channels="${...teachers.model.backbone.out_channels}")]
train.output_dir = "./output/baselines/dmkd_R18w64_to_R18_faster_rcnn"
