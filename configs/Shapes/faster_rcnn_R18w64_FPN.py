"""CPU-sized Faster R-CNN teacher (full-width ResNet-18, 64-channel FPN) on the shapes dataset:
the strong teacher of the Faster R-CNN distillation configs.

Its checkpoint, output/teachers/faster_rcnn_R18w64_FPN/model_final.pth, is what
configs/common/teachers.py loads.
"""
from ..common.data.shapes import dataloader
from ..common.models.faster_rcnn_r18w64 import model
from ..common.optim import AdamW as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

model.roi_heads.num_classes = 6
optimizer.lr = 2e-3  # the Faster R-CNN shapes rate (configs/common/optim.py)
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/teachers/faster_rcnn_R18w64_FPN"
