"""DFMSD, heterogeneous transformer -> CNN pair (paper table 1 / 10 analogue, ST-T -> ST-S):
RetinaNet teachers on a CPU-sized Swin, the weaker "nano" (about 1.4M backbone
parameters) then the stronger "micro" (1.5x width, 2x depth), teaching a RetinaNet
R18 (half width) student.

Teachers and box cache first::

    python tools/lazyconfig_train_net.py --config-file projects/DFMSD/configs/Shapes/retinanet_swin_nano_FPN.py
    python tools/lazyconfig_train_net.py --config-file projects/DFMSD/configs/Shapes/retinanet_swin_micro_FPN.py
    python -m dfmsd.cache_boxes --config-file projects/DFMSD/configs/Shapes/dfmsd_swin_nano_micro_to_R18_retinanet.py
"""
from d2kd.modeling import Teacher
from detectron2.config import LazyCall as L

from .dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train
from .retinanet_swin_micro_FPN import model as _strong_teacher_model
from .retinanet_swin_nano_FPN import model as _weak_teacher_model

model.teachers = L(Teacher)(
    model=_strong_teacher_model, weights="output/teachers/retinanet_swin_micro_FPN/model_final.pth"
)
stages[0].model.teachers.model = _weak_teacher_model
stages[0].model.teachers.weights = "output/teachers/retinanet_swin_nano_FPN/model_final.pth"
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/retinanet_swin_nano_FPN_d2kd_shapes_bench_train.json"
train.output_dir = "./output/DFMSD/dfmsd_swin_nano_micro_to_R18_retinanet"
