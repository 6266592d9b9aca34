"""Edge-sized Faster R-CNN student: ResNet-18 at quarter width (base width 16, BN, trained
from scratch), 32-channel FPN p2-p6; otherwise the student of ``faster_rcnn.py`` (same
anchors, strides, sampling and box head), so its FPN levels pair with every teacher's.

Small enough that capacity limits it on the bundled data: at 600 iterations it reaches
3.3 AP where the width-32 student reaches 7.1 (docs/RESULTS.md, "Scale and schedule").
The converged benchmark's student (docs/RESULTS.md, "Converged").
"""
from .faster_rcnn import model

model.backbone.bottom_up.stages.base_width = 16
model.backbone.out_channels = 32
