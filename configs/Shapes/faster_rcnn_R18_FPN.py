"""Faster R-CNN, ResNet-18 (half width) FPN, trained from scratch on the bundled shapes dataset."""
from ..common.data.shapes import dataloader
from ..common.models.faster_rcnn import model
from ..common.optim import AdamW as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

model.roi_heads.num_classes = 6
optimizer.lr = 2e-3  # the Faster R-CNN shapes rate (configs/common/optim.py)
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/Shapes/faster_rcnn_R18_FPN"
