"""RetinaNet, ResNet-18 (half width) FPN, trained from scratch on the bundled shapes dataset.

The README's first command trains this model. Schedule: 8 images x max_iter iterations.
"""
from ..common.data.shapes import dataloader
from ..common.models.retinanet import model
from ..common.optim import SGD as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

model.num_classes = 6
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/Shapes/retinanet_R18_FPN"
