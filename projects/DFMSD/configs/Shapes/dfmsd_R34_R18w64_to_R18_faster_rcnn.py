"""DFMSD, homogeneous pair with a two-stage detector (paper table 6 analogue): Faster
R-CNN R18 (half width) student; stage 1 Faster R-CNN R34 teacher, stage 2 Faster R-CNN
R50 teacher; masked reconstruction on p2-p6, SFA on p2-p4 (the first three levels).

Student, data and schedule are those of configs/Shapes/faster_rcnn_R18_FPN.py.
Teachers and box cache first::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/faster_rcnn_R50_FPN.py
    python tools/lazyconfig_train_net.py --config-file projects/DFMSD/configs/Shapes/faster_rcnn_R34_FPN.py
    python tools/cache_teacher_boxes.py --config-file projects/DFMSD/configs/Shapes/dfmsd_R34_R50_to_R18_faster_rcnn.py
"""
from .....configs.Shapes.faster_rcnn_R18_FPN import model as _student
from .....configs.common.teachers import faster_rcnn_R50_teacher
from .dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train
from .faster_rcnn_R34_FPN import model as _weak_teacher_model

model.student = _student
model.teachers = faster_rcnn_R50_teacher
model.distill_losses[0].in_features = ["p2", "p3", "p4", "p5", "p6"]
model.distill_losses[0].sfa_features = ["p2", "p3", "p4"]
stages[0].model.teachers.model = _weak_teacher_model
stages[0].model.teachers.weights = "output/teachers/faster_rcnn_R34_FPN/model_final.pth"
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/faster_rcnn_R34_FPN_d2kd_shapes_bench_train.json"
train.output_dir = "./output/DFMSD/dfmsd_R34_R50_to_R18_faster_rcnn"
