"""Faster R-CNN, ResNet-18 (quarter width) with a 32-channel FPN, trained from scratch on the
bundled shapes dataset: the edge-sized student of the converged benchmark."""
from ..common.data.shapes import dataloader
from ..common.models.faster_rcnn_r18w16 import model
from ..common.optim import AdamW as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

model.roi_heads.num_classes = 6
optimizer.lr = 2e-3  # the Faster R-CNN shapes rate (configs/common/optim.py)
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/Shapes/faster_rcnn_R18w16_FPN"
