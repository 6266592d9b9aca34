"""MKD on the bundled shapes dataset: Faster R-CNN R18 (half width) student,
Faster R-CNN R50 teacher. Student, data and schedule are those of the plain
student configs/Shapes/faster_rcnn_R18_FPN.py.

Teacher checkpoint first::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/faster_rcnn_R50_FPN.py
"""
from .....configs.Shapes.faster_rcnn_R18_FPN import dataloader, lr_multiplier, optimizer, train
from .....configs.Shapes.faster_rcnn_R18_FPN import model as _student
from .....configs.common.teachers import faster_rcnn_R50_teacher
from .mkd_R50_to_R18_retinanet import model

model.student = _student
model.teachers = faster_rcnn_R50_teacher
# strides 4-32, the levels the ROI heads pool from; p6 (3x3 at 192 px) is too small for 4x4 pooling
model.distill_losses[0].in_features = ["p2", "p3", "p4", "p5"]
train.output_dir = "./output/MKD/mkd_R50_to_R18_faster_rcnn"
