"""Base of the distillation runs on the shapes dataset: the RetinaNet R18 student of
configs/Shapes/retinanet_R18_FPN.py taught by the RetinaNet R50 teacher, with no
distillation loss yet, built from the pieces of configs/common: the distiller node
of distill_model.py, the model of models/retinanet.py, the teacher of
teacher_retinanet.py and the data, optimizer and schedule the plain student uses.
Leaf configs set ``model.distill_losses`` and ``train.output_dir``.

The loss modules compare features after the student's 1x1 adapters, so their
``channels`` are the teacher's FPN width (interpolated from ``model.teachers``).

Loss weights: the RetinaNet leaf configs keep the papers' weights (or, for DFMSD, the
baselines'); unlike the Faster R-CNN configs they are not set by the benchmark's rule
(0.1 x the detection loss where the run starts; docs/RESULTS.md, "Loss weights"), since
no benchmark row trains a RetinaNet teacher to measure them with. Measure them with
tools/loss_scale.py and your trained teacher before a long run.
"""
from .data.shapes import dataloader
from .distill_model import distiller as model
from .models.retinanet import model as _student
from .optim import AdamW as optimizer
from .optim import lr_multiplier
from .teacher_retinanet import retinanet_R50_teacher as _teacher
from .train import train

_student.num_classes = 6

model.student = _student
model.teachers = _teacher
train.max_iter = 1500
train.eval_period = 1500

# FPN levels shared by student and teacher (strides 8..128)
LEVELS = ["p3", "p4", "p5", "p6", "p7"]
