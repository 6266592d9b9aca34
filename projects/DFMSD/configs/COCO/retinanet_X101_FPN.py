"""Paper-size stronger RetinaNet teacher on COCO: ResNeXt-101 32x8d FPN (detectron2's
FAIR ImageNet weights: no stride in the 1x1 conv, per-channel pixel std), 3x schedule."""
from .retinanet_R101_FPN import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.update(num_groups=32, width_per_group=8, stride_in_1x1=False)
model.pixel_std = [57.375, 57.120, 58.395]
train.init_checkpoint = "detectron2://ImageNetPretrained/FAIR/X-101-32x8d.pkl"
train.output_dir = "./output/teachers/retinanet_X101_FPN_coco"
