"""CPU-sized RetinaNet teacher: half-width ResNet-50 (base width 32, BN, trained from scratch on
the bundled data), 64-channel FPN p3-p7; otherwise the student of
``retinanet.py`` (same anchors, strides and preprocessing), so features pair
level by level with any student of this folder.
"""
from .retinanet import model

model.backbone.bottom_up.stages.update(depth=50, base_width=32)
model.backbone.out_channels = 64
