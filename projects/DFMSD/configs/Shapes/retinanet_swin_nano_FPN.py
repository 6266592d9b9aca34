"""The weaker transformer teacher (paper's ST-T analogue): RetinaNet on the CPU-sized
Swin of configs/common/models/backbones.py (embed 32, depths 1-1-2-1, about 1.4M
parameters), 64-channel FPN p3-p7, trained from scratch on the shapes dataset.
"""
from .....configs.Shapes.retinanet_R50_FPN import dataloader, lr_multiplier, model, optimizer, train
from .....configs.common.models.backbones import swin_nano_fpn

model.backbone.bottom_up = swin_nano_fpn.bottom_up
model.backbone.bottom_up.out_features = ["res3", "res4", "res5"]  # the RetinaNet FPN reads res3-res5
train.output_dir = "./output/teachers/retinanet_swin_nano_FPN"
