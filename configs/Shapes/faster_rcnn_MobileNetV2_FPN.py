"""Faster R-CNN MobileNetV2-FPN student on the bundled shapes dataset, starting from
torchvision's ImageNet weights (configs/common/models/faster_rcnn_mobilenetv2.py): the
pretrained edge student, as the papers' students start. The mappers load RGB, as the
weights expect; a BGR teacher (configs/common/teachers.py) converts the images itself.
"""
from ..common.data.shapes import dataloader
from ..common.models.faster_rcnn_mobilenetv2 import model
from ..common.optim import AdamW as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

model.roi_heads.num_classes = 6
dataloader.train.mapper.image_format = "RGB"
dataloader.test.mapper.image_format = "RGB"
optimizer.lr = 2e-3  # the Faster R-CNN shapes rate (configs/common/optim.py)
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/Shapes/faster_rcnn_MobileNetV2_FPN"
