"""CPU-sized Mask R-CNN teacher: half-width ResNet-50 (base width 32, BN), 64-channel FPN p2-p6,
a 512-wide box head and a 128-wide mask head; otherwise the student of
``mask_rcnn.py``.
"""
from .mask_rcnn import model

model.backbone.bottom_up.stages.update(depth=50, base_width=32)
model.backbone.out_channels = 64
model.roi_heads.box_head.fc_dims = [512, 512]
model.roi_heads.box_predictor.input_shape.channels = 512  # = box_head.fc_dims[-1]
