"""DFMSD, homogeneous pair with a two-stage detector (paper table 6 analogue): Faster
R-CNN R18 (width 32) student; SAL stage 1 with the weaker Faster R-CNN R34 (width 32)
teacher, stage 2 with the stronger Faster R-CNN R18w64 (width 64) teacher;
masked reconstruction on p2-p6, SFA on p2-p4 (the first three levels, paper
table 9), masking enhancement in stage 2 only (table 8). The DFMSD row of the
benchmark (docs/RESULTS.md).

Student, strong teacher, data, optimizer and the loss's levels come from
../common/dfmsd_faster_rcnn.py (shared with the one-stage variant), the stages from
../common/sal.py;
each stage gets half of the student's schedule, so the run compares one for
one with the baselines, the plain student and the one-stage variant
dfmsd_onestage_R18w64_to_R18_faster_rcnn.py.

Teachers and box cache first::

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/faster_rcnn_R18w64_FPN.py
    python tools/lazyconfig_train_net.py --config-file projects/DFMSD/configs/Shapes/faster_rcnn_R34_FPN.py
    python -m dfmsd.cache_boxes --config-file projects/DFMSD/configs/Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py
"""
from ..common.dfmsd_faster_rcnn import dataloader, lr_multiplier, model, optimizer, train
from ..common.sal import sal_stages as stages
from ..common.weak_teacher_faster_rcnn import teacher as _weak_teacher

# alpha and gamma: the one rule of every shipped Faster R-CNN distillation config
# (docs/RESULTS.md, "Loss weights"): the distillation loss is 0.1x the detection loss where
# the run starts (SAL stage 1: the weak teacher, the warm-up checkpoint, no ME), half from
# the masked reconstruction (+ L_ME), half from SFA (beta = 0.5 kept). By tools/loss_scale.py
# over 200 training batches (docs/results/loss_scale/dfmsd_stage1.txt), at the previous
# alpha 1.2e-9, gamma 1.4e7: reconstruction 0.0216x, SFA 0.0322x (standard error 2.8%), so
# alpha x 2.31 and alpha * gamma x 1.55. Stage 2 starts from stage 1's student, which
# cannot be measured before training; it keeps these weights.
model.distill_losses[0].weight = 2.8e-9
model.distill_losses[0].gamma = 9.4e6  # alpha * gamma = 0.026

# the top level is the last stage: the strong teacher of configs/common/distill_faster_rcnn.py, with ME
stages[0].model.teachers = _weak_teacher
train.max_iter = 750  # per stage: 2 x 750 = the 1500 iterations of the baselines
train.eval_period = 750
train.output_dir = "./output/DFMSD/dfmsd_R34_R18w64_to_R18_faster_rcnn"
