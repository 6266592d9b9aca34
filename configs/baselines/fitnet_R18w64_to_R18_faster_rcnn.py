"""FitNet (feature MSE on every FPN level): Faster R-CNN R18w64 teacher -> R18 student."""
from detectron2.config import LazyCall as L

from d2kd.losses import FitNetLoss

from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train

model.distill_losses = [L(FitNetLoss)(in_features=LEVELS, weight=1.0)]
train.output_dir = "./output/baselines/fitnet_R18w64_to_R18_faster_rcnn"
