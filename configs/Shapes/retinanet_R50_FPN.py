"""CPU-sized retinanet teacher (half-width ResNet-50, 64-channel FPN) on the shapes dataset.

Its checkpoint, output/teachers/retinanet_R50_FPN/model_final.pth, is what
configs/common/teachers.py loads.
"""
from ..common.data.shapes import dataloader
from ..common.models.retinanet_r50 import model
from ..common.optim import AdamW as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

model.num_classes = 6
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/teachers/retinanet_R50_FPN"
