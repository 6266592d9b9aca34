"""RetinaNet, ResNet-18 (half width) FPN, trained from scratch on the bundled shapes dataset.

The README's first command (``make demo``) trains this model: 1000 iterations of 8
images (about 2.7 epochs of the 3000 training images) take about 10 minutes on 2 CPU cores.
"""
from ..common.data.shapes import dataloader
from ..common.models.retinanet import model
from ..common.optim import AdamW as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

model.num_classes = 6
train.max_iter = 1000
train.eval_period = 1000
train.output_dir = "./output/Shapes/retinanet_R18_FPN"
