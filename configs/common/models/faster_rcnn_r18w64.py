"""CPU-sized Faster R-CNN teacher: ResNet-18 at full width (base width 64, BN, trained from
scratch on the bundled data), 64-channel FPN p2-p6, a 512-wide box head; otherwise
the student of ``faster_rcnn.py`` (same anchors, strides and preprocessing), so
features pair level by level with it. 13.3M parameters, 3.4x the student (docs/MODELS.md).

Why not a ResNet-50: trained from scratch on the CPU budget of the benchmark,
the half-width ResNet-50 of ``faster_rcnn_r50.py`` learns far more slowly than
the basic-block networks (bbox AP 8.8 after 1500 iterations, where the R18
student reaches 27.7 after 1200; docs/RESULTS.md, "Scale and schedule"), so
the strong teacher gets its capacity from width, as ResNeXt-101 does in the
DFMSD paper's R101 -> X101 pair.
"""
from .faster_rcnn import model

model.backbone.bottom_up.stages.base_width = 64
model.roi_heads.box_head.fc_dims = [512, 512]
model.roi_heads.box_predictor.input_shape.channels = 512  # = box_head.fc_dims[-1]
