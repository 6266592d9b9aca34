"""The weaker Faster R-CNN teacher of the SAL pairs: half-width ResNet-34, 64-channel
FPN p2-p6; otherwise the R50 teacher of configs/Shapes/faster_rcnn_R50_FPN.py.
"""
from .....configs.Shapes.faster_rcnn_R50_FPN import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.depth = 34
train.output_dir = "./output/teachers/faster_rcnn_R34_FPN"
