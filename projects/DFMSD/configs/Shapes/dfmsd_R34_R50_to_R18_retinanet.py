"""DFMSD on the bundled shapes dataset, homogeneous pair (paper table 6 / 11 analogue):
RetinaNet R18 (half width) student; SAL stage 1 with the weaker RetinaNet R34
teacher, stage 2 with the stronger RetinaNet R50 teacher, masking enhancement in
stage 2 only (paper table 8), SFA at p3-p5 (table 9).

Student, R50 teacher, data, optimizer and ``min_input_size`` come from
configs/common/distill.py (the base of configs/baselines/*); the two stages of
750 iterations add up to the baselines' 1500, so the run compares one for one
with them, with the plain student and with the one-stage variant
dfmsd_onestage_R50_to_R18_retinanet.py.

The top-level ``model``/``dataloader`` are the last stage's (strong teacher, ME
mapper), so ``--eval-only`` and the one-stage variant use them as they are;
``stages[0]`` swaps in the weak teacher and the plain mapper.

Its loss weights are not set by the benchmark's rule (see configs/common/distill.py,
"Loss weights"): measure them with tools/loss_scale.py and your trained teacher.

Before the run (see projects/DFMSD/README.md)::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/retinanet_R50_FPN.py
    python tools/lazyconfig_train_net.py --config-file projects/DFMSD/configs/Shapes/retinanet_R34_FPN.py
    python -m dfmsd.cache_boxes --config-file projects/DFMSD/configs/Shapes/dfmsd_R34_R50_to_R18_retinanet.py
"""
from omegaconf import OmegaConf

from d2kd.modeling import Teacher
from detectron2.config import LazyCall as L
from dfmsd import DFMSDDetector, MaskingEnhancementMapper

from d2kd.config import zoo
from ..common.dfmsd import dfmsd_loss as _dfmsd_loss
from ..common.dfmsd import masking_enhancement as _me
from .retinanet_R34_FPN import model as _weak_teacher_model

_base = zoo.get_config("common/distill.py")
dataloader, lr_multiplier, model, optimizer, train = (
    _base.dataloader, _base.lr_multiplier, _base.model, _base.optimizer, _base.train
)

_dfmsd_loss.in_features = list(model.student.head_in_features)  # every level the head reads, p3-p7
_dfmsd_loss.channels = "${...teachers.model.backbone.out_channels}"

# the last stage: the strong teacher of configs/common/distill.py, with ME
model._target_ = DFMSDDetector
model.distill_losses = [_dfmsd_loss]
model.masking_enhancement = True
model.adversarial_epsilon = 0.0  # > 0: one FGSM step on the enhanced view (off in the paper setting)

_plain_mapper = dataloader.train.mapper
dataloader.train.mapper = L(MaskingEnhancementMapper)(**_plain_mapper, **_me)
dataloader.train.mapper.dataset_names = "${dataloader.train.dataset.names}"  # checks that the box cache covers it
# candidate boxes of the weak teacher (stage 1), written by python -m dfmsd.cache_boxes
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/retinanet_R34_FPN_d2kd_shapes_bench_train.json"

train.max_iter = 750  # per stage: 2 x 750 = the 1500 iterations of the baselines
train.eval_period = 750
train.output_dir = "./output/DFMSD/dfmsd_R34_R50_to_R18_retinanet"

# a ListConfig: LazyConfig keeps only config types at the top level of a file
stages = OmegaConf.create(
    [
        dict(
            name="weak",
            model=dict(
                teachers=L(Teacher)(
                    model=_weak_teacher_model, weights="output/teachers/retinanet_R34_FPN/model_final.pth"
                ),
                masking_enhancement=False,
            ),
            dataloader=dict(train=dict(mapper=_plain_mapper)),
        ),
        dict(name="strong"),
    ],
    flags={"allow_objects": True},
)
