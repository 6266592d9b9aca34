"""Paper-size stronger Faster R-CNN teacher on COCO: ResNeXt-101 32x8d FPN, 3x schedule
(the model zoo's faster_rcnn_X_101_32x8d_FPN_3x recipe)."""
from .faster_rcnn_R101_FPN import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.update(num_groups=32, width_per_group=8, stride_in_1x1=False)
model.pixel_std = [57.375, 57.120, 58.395]
train.init_checkpoint = "detectron2://ImageNetPretrained/FAIR/X-101-32x8d.pkl"
train.output_dir = "./output/teachers/faster_rcnn_X101_FPN_coco"
