"""RetinaNet, ResNet-18 (half width) FPN, trained from scratch on the bundled shapes dataset.

The plain student of every distillation config of the shapes dataset
(configs/common/distill.py, the MKD and DFMSD Shapes configs): same data,
optimizer and schedule, 1500 iterations of 8 images (4 epochs of the 3000
training images), about 0.6 s per iteration on 2 CPU cores.
"""
from ..common.data.shapes import dataloader
from ..common.models.retinanet import model
from ..common.optim import AdamW as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

model.num_classes = 6
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/Shapes/retinanet_R18_FPN"
