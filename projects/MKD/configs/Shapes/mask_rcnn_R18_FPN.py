"""Mask R-CNN, ResNet-18 (half width) FPN, trained from scratch on the bundled shapes
dataset with its polygon masks: the plain student of paper table 2. Data and
schedule are those of configs/Shapes/faster_rcnn_R18_FPN.py, plus instance masks;
evaluated for bbox and segm AP."""
from d2kd.config import zoo
from ..common.shapes_masks import dataloader, lr_multiplier, optimizer, train

model = zoo.get_config("common/models/mask_rcnn.py").model

model.roi_heads.num_classes = 6
train.output_dir = "./output/Shapes/mask_rcnn_R18_FPN"
