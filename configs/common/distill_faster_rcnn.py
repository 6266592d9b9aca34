"""Base of the Faster R-CNN distillation runs on the shapes dataset: the Faster R-CNN
R18 student of configs/Shapes/faster_rcnn_R18_FPN.py (ResNet-18 at width 32) taught
by the Faster R-CNN R18w64 teacher (ResNet-18 at width 64,
configs/Shapes/faster_rcnn_R18w64_FPN.py), with no distillation loss yet. Leaf
configs set ``model.distill_losses`` and ``train.output_dir``. The two-stage twin
of ``distill.py`` (RetinaNet), and the detector family of the benchmark's
headline rows (docs/RESULTS.md).

Built, as ``distill.py`` is, from the pieces of configs/common only: the distiller
node of distill_model.py, the model of models/faster_rcnn.py, the teacher of
teacher_faster_rcnn.py, and the data, optimizer and schedule of the plain student.

The loss modules compare features after the student's 1x1 adapters, so their
``channels`` are the teacher's FPN width (interpolated from ``model.teachers``).
"""
from .data.shapes import dataloader
from .distill_model import distiller as model
from .models.faster_rcnn import model as _student
from .optim import AdamW as optimizer
from .optim import lr_multiplier
from .teacher_faster_rcnn import faster_rcnn_R18w64_teacher as _teacher
from .train import train

_student.roi_heads.num_classes = 6

model.student = _student
model.teachers = _teacher
optimizer.lr = 2e-3  # the Faster R-CNN shapes rate (configs/common/optim.py)
train.max_iter = 1500
train.eval_period = 1500

# FPN levels shared by student and teacher (strides 4..64)
LEVELS = ["p2", "p3", "p4", "p5", "p6"]
