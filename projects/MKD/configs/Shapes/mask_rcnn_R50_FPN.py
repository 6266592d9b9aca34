"""CPU-sized Mask R-CNN teacher (half-width ResNet-50, 64-channel FPN) on the shapes
dataset, for paper table 2; data and schedule of mask_rcnn_R18_FPN.py. Its
checkpoint, output/teachers/mask_rcnn_R50_FPN/model_final.pth, is what
mkd_R50_to_R18_mask_rcnn.py loads."""
from .....configs.common.models.mask_rcnn_r50 import model
from .mask_rcnn_R18_FPN import dataloader, lr_multiplier, optimizer, train

model.roi_heads.num_classes = 6
train.output_dir = "./output/teachers/mask_rcnn_R50_FPN"
