"""configs/common/optim.py: the AdamW config's parameter groups follow optimizer.lr, so that
detectron2's bias_lr_factor (and, on detectron2 main, lr_factor_func) work with it as with
detectron2's own AdamW."""
import os

import pytest
from torch import nn

from d2kd.config import apply_overrides_strictly, load_config
from detectron2.config import instantiate
from tool_runs import ROOT

CONFIG = os.path.join(ROOT, "configs/Shapes/faster_rcnn_R18_FPN.py")


def _optimizer(*overrides, **params):
    cfg = apply_overrides_strictly(load_config(CONFIG), list(overrides))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    cfg.optimizer.params.model = model
    for key, value in params.items():
        cfg.optimizer.params[key] = value
    return instantiate(cfg.optimizer), model


def _lr_of(optimizer, param):
    return next(g["lr"] for g in optimizer.param_groups if any(p is param for p in g["params"]))


def test_every_group_gets_the_optimizer_lr_and_no_decay_on_norms():
    optimizer, model = _optimizer("optimizer.lr=3e-3")
    assert type(optimizer).__name__ == "AdamW"
    assert {g["lr"] for g in optimizer.param_groups} == {3e-3}
    decay = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    conv, norm = model
    assert [decay[id(p)] for p in (conv.weight, conv.bias, norm.weight, norm.bias)] == [0.05, 0.05, 0.0, 0.0]


def test_bias_lr_factor_scales_it():
    optimizer, (conv, norm) = _optimizer("optimizer.lr=1e-3", bias_lr_factor=2.0)
    assert [_lr_of(optimizer, p) for p in (conv.weight, conv.bias, norm.weight, norm.bias)] == pytest.approx(
        [1e-3, 2e-3, 1e-3, 2e-3])
