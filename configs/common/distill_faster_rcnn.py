"""Base of the Faster R-CNN distillation runs on the shapes dataset: the Faster R-CNN
R18 student of configs/Shapes/faster_rcnn_R18_FPN.py (ResNet-18 at width 32) taught
by the Faster R-CNN R18w64 teacher (ResNet-18 at width 64,
configs/Shapes/faster_rcnn_R18w64_FPN.py), with no distillation loss yet. Leaf
configs set ``model.distill_losses`` and ``train.output_dir``. The two-stage twin
of ``distill.py`` (RetinaNet), and the detector family of the benchmark's
headline rows (docs/RESULTS.md).

The loss modules compare features after the student's 1x1 adapters, so their
``channels`` are the teacher's FPN width (interpolated from ``model.teachers``).
"""
from ..Shapes.faster_rcnn_R18_FPN import dataloader, lr_multiplier, optimizer, train
from ..Shapes.faster_rcnn_R18_FPN import model as _student
from .distill import model
from .teachers import faster_rcnn_R18w64_teacher

model.student = _student
model.teachers = faster_rcnn_R18w64_teacher

# FPN levels shared by student and teacher (strides 4..64)
LEVELS = ["p2", "p3", "p4", "p5", "p6"]
