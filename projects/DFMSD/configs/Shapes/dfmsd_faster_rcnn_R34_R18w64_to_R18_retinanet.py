"""DFMSD, heterogeneous CNN pair (paper tables 2-4 analogue): Faster R-CNN R34 then
Faster R-CNN R18w64 teachers (two-stage, p2-p6) teaching a RetinaNet R18 student (one-stage,
p3-p7). Levels are paired by stride: the shared p3-p6 are distilled.

Teachers and box cache first::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/faster_rcnn_R18w64_FPN.py
    python tools/lazyconfig_train_net.py --config-file projects/DFMSD/configs/Shapes/faster_rcnn_R34_FPN.py
    python -m dfmsd.cache_boxes --config-file projects/DFMSD/configs/Shapes/dfmsd_faster_rcnn_R34_R18w64_to_R18_retinanet.py
"""
from d2kd.config import zoo
from dfmsd import DFMSDDetector

from ..common.dfmsd import dfmsd_loss as _dfmsd_loss
from ..common.sal import dataloader
from ..common.sal import sal_stages as stages
from ..common.weak_teacher_faster_rcnn import teacher as _weak_teacher

# the RetinaNet student, data, optimizer and schedule of configs/common/distill.py
_base = zoo.get_config("common/distill.py")
lr_multiplier, model, optimizer, train = _base.lr_multiplier, _base.model, _base.optimizer, _base.train
faster_rcnn_R18w64_teacher = zoo.get_config("common/teacher_faster_rcnn.py").faster_rcnn_R18w64_teacher

_dfmsd_loss.in_features = ["p3", "p4", "p5", "p6"]  # strides 8-64, in both
_dfmsd_loss.channels = "${...teachers.model.backbone.out_channels}"

# the last stage: the strong teacher, with ME
model._target_ = DFMSDDetector
model.teachers = faster_rcnn_R18w64_teacher
model.distill_losses = [_dfmsd_loss]
model.masking_enhancement = True
model.adversarial_epsilon = 0.0  # > 0: one FGSM step on the enhanced view (off in the paper setting)
stages[0].model.teachers = _weak_teacher
# candidate boxes of the weak teacher (stage 1), written by python -m dfmsd.cache_boxes
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/faster_rcnn_R34_FPN_d2kd_shapes_bench_train.json"
train.max_iter = 750  # per stage: 2 x 750 = the 1500 iterations of the baselines
train.eval_period = 750
train.output_dir = "./output/DFMSD/dfmsd_faster_rcnn_R34_R18w64_to_R18_retinanet"
