"""PKD (Pearson correlation of normalised features, Cao et al. 2022): Faster R-CNN R18w64 -> R18."""
from detectron2.config import LazyCall as L

from d2kd.losses import PKDLoss

from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train

model.distill_losses = [L(PKDLoss)(in_features=LEVELS, weight=1.0)]
train.output_dir = "./output/baselines/pkd_R18w64_to_R18_faster_rcnn"
