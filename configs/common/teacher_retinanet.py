"""The frozen RetinaNet teacher of the bundled shapes dataset (one of
configs/common/teachers.py), in a file of its own so that a RetinaNet config
reads no Faster R-CNN file. Its checkpoint is written by training
configs/Shapes/retinanet_R50_FPN.py.
"""
from detectron2.config import LazyCall as L

from d2kd.modeling import Teacher

from .models.retinanet_r50 import model as _retinanet_r50

retinanet_R50_teacher = L(Teacher)(
    model=_retinanet_r50, weights="output/teachers/retinanet_R50_FPN/model_final.pth"
)
