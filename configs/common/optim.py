"""Optimizer and learning-rate schedule.

The schedule is expressed in fractions of ``train.max_iter`` (fvcore param
schedulers are evaluated at ``iter / max_iter``), so overriding
``train.max_iter`` on the command line stretches it consistently.
"""
from fvcore.common.param_scheduler import CosineParamScheduler

from detectron2 import model_zoo
from detectron2.config import LazyCall as L
from detectron2.solver import WarmupParamScheduler

SGD = model_zoo.get_config("common/optim.py").SGD
# batch 8 from scratch with BN; detectron2's 0.02 is for batch 16 with pretrained backbones
SGD.lr = 0.02
SGD.weight_decay = 1e-4

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(CosineParamScheduler)(start_value=1.0, end_value=0.02),
    warmup_length=0.05,  # fraction of max_iter
    warmup_factor=0.001,
)
