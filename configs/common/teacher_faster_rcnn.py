"""The frozen Faster R-CNN teacher of the bundled shapes dataset (one of
configs/common/teachers.py), in a file of its own so that a Faster R-CNN config
reads no RetinaNet file. Its checkpoint is written by training
configs/Shapes/faster_rcnn_R18w64_FPN.py.
"""
from detectron2.config import LazyCall as L

from d2kd.modeling import Teacher

from .models.faster_rcnn_r18w64 import model as _faster_rcnn_r18w64

faster_rcnn_R18w64_teacher = L(Teacher)(
    model=_faster_rcnn_r18w64, weights="output/teachers/faster_rcnn_R18w64_FPN/model_final.pth"
)
