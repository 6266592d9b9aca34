"""CPU-sized Mask R-CNN teacher (half-width ResNet-50, 64-channel FPN) on the shapes
dataset, for paper table 2; data and schedule of ../common/shapes_masks.py. Its
checkpoint is output/teachers/mask_rcnn_R50_FPN/model_final.pth; set it as
``model.teachers`` of mkd_R18w64_to_R18_mask_rcnn.py (which by default reuses the
Faster R-CNN R18w64 detection teacher) to distil from a Mask R-CNN."""
from d2kd.config import zoo
from ..common.shapes_masks import dataloader, lr_multiplier, optimizer, train

model = zoo.get_config("common/models/mask_rcnn_r50.py").model

model.roi_heads.num_classes = 6
train.output_dir = "./output/teachers/mask_rcnn_R50_FPN"
