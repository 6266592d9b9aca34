"""DFMSD, heterogeneous CNN pair (paper tables 2-4 analogue): Faster R-CNN R34 then
Faster R-CNN R18w64 teachers (two-stage, p2-p6) teaching a RetinaNet R18 student (one-stage,
p3-p7). Levels are paired by stride: the shared p3-p6 are distilled.

Teachers and box cache first::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/faster_rcnn_R18w64_FPN.py
    python tools/lazyconfig_train_net.py --config-file projects/DFMSD/configs/Shapes/faster_rcnn_R34_FPN.py
    python -m dfmsd.cache_boxes --config-file projects/DFMSD/configs/Shapes/dfmsd_faster_rcnn_R34_R18w64_to_R18_retinanet.py
"""
from d2kd.config import zoo
from .dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train
from .faster_rcnn_R34_FPN import model as _weak_teacher_model

_base = zoo.get_config("common/teachers.py")
faster_rcnn_R18w64_teacher = _base.faster_rcnn_R18w64_teacher

model.teachers = faster_rcnn_R18w64_teacher
model.distill_losses[0].in_features = ["p3", "p4", "p5", "p6"]  # strides 8-64, in both
stages[0].model.teachers.model = _weak_teacher_model
stages[0].model.teachers.weights = "output/teachers/faster_rcnn_R34_FPN/model_final.pth"
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/faster_rcnn_R34_FPN_d2kd_shapes_bench_train.json"
train.output_dir = "./output/DFMSD/dfmsd_faster_rcnn_R34_R18w64_to_R18_retinanet"
