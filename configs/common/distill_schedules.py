"""Schedules of the distillation weight, for ``model.distill_schedule``.

fvcore ``ParamScheduler``s, as detectron2 uses for the learning rate
(configs/common/optim.py): evaluated at ``iter / max_iter``, so they stretch
with ``train.max_iter``. Every distillation loss is multiplied by the value
(logged as ``distill_weight_scale``); the loss weights themselves stay as set.
Import under a private name and assign::

    from ..common.distill_schedules import ramp as _ramp

    model.distill_schedule = _ramp
"""
from fvcore.common.param_scheduler import ConstantParamScheduler, CosineParamScheduler

from detectron2.config import LazyCall as L
from detectron2.solver import WarmupParamScheduler

# 0 at the start, linearly to 1 over the first 20% of the schedule, then 1: the
# student's detection gradients settle before the teacher's pull reaches full weight
ramp = L(WarmupParamScheduler)(
    scheduler=L(ConstantParamScheduler)(value=1.0),
    warmup_length=0.2,
    warmup_factor=0.0,
)
# the same ramp, then a cosine decay to 0 at the end: the last iterations train on the
# detection loss alone
ramp_then_decay = L(WarmupParamScheduler)(
    scheduler=L(CosineParamScheduler)(start_value=1.0, end_value=0.0),
    warmup_length=0.2,
    warmup_factor=0.0,
)
