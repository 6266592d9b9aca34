"""DFMSD on the bundled shapes dataset, homogeneous pair (paper table 6 / 11 analogue):
RetinaNet R18 (half width) student; SAL stage 1 with the weaker RetinaNet R34
teacher, stage 2 with the stronger RetinaNet R50 teacher, masking enhancement in
stage 2 only (paper table 8), SFA at p3-p5 (table 9).

Student, R50 teacher, data, optimizer and ``min_input_size`` come from
configs/common/distill.py (the base of configs/baselines/*), the masking-enhancement
data and the stages from ../common/sal.py; the two stages of
750 iterations add up to the baselines' 1500, so the run compares one for one
with them, with the plain student and with the one-stage variant
dfmsd_onestage_R50_to_R18_retinanet.py.

The top-level ``model``/``dataloader`` are the last stage's (strong teacher, ME
mapper), so ``--eval-only`` and the one-stage variant use them as they are;
``stages[0]`` swaps in the weak teacher and switches masking enhancement off.

Its loss weights are not set by the benchmark's rule (see configs/common/distill.py,
"Loss weights"): measure them with tools/loss_scale.py and your trained teacher.

Before the run (see projects/DFMSD/README.md)::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/retinanet_R50_FPN.py
    python tools/lazyconfig_train_net.py --config-file projects/DFMSD/configs/Shapes/retinanet_R34_FPN.py
    python -m dfmsd.cache_boxes --config-file projects/DFMSD/configs/Shapes/dfmsd_R34_R50_to_R18_retinanet.py
"""
from d2kd.config import zoo
from dfmsd import DFMSDDetector

from ..common.dfmsd import dfmsd_loss as _dfmsd_loss
from ..common.sal import dataloader
from ..common.sal import sal_stages as stages
from ..common.weak_teacher_retinanet import teacher as _weak_teacher

_base = zoo.get_config("common/distill.py")
lr_multiplier, model, optimizer, train = _base.lr_multiplier, _base.model, _base.optimizer, _base.train

_dfmsd_loss.in_features = list(model.student.head_in_features)  # every level the head reads, p3-p7
_dfmsd_loss.channels = "${...teachers.model.backbone.out_channels}"

# the last stage: the strong teacher of configs/common/distill.py, with ME
model._target_ = DFMSDDetector
model.distill_losses = [_dfmsd_loss]
model.masking_enhancement = True
model.adversarial_epsilon = 0.0  # > 0: one FGSM step on the enhanced view (off in the paper setting)
stages[0].model.teachers = _weak_teacher
# candidate boxes of the weak teacher (stage 1), written by python -m dfmsd.cache_boxes
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/retinanet_R34_FPN_d2kd_shapes_bench_train.json"
train.max_iter = 750  # per stage: 2 x 750 = the 1500 iterations of the baselines
train.eval_period = 750
train.output_dir = "./output/DFMSD/dfmsd_R34_R50_to_R18_retinanet"
