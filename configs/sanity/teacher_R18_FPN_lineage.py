"""The sanity profile's same-lineage teacher: the student's own architecture (Faster R-CNN
R18, ResNet-18 at width 32, 64-channel FPN), trained on from the student's warm-up
checkpoint for several times the students' schedule, so that it leads the plain student
clearly while it shares the student's feature basis (``tools/benchmark.py --profile
sanity`` sets ``train.init_checkpoint`` to the warm-up). A student that imitates it
channel for channel should gain; if it does not, knowledge does not reach the student.

Its checkpoint, output/teachers/faster_rcnn_R18_FPN_lineage/model_final.pth, is what
configs/sanity/fitnet_R18lineage_to_R18_faster_rcnn.py loads.
"""
from ..common.data.shapes import dataloader
from ..common.models.faster_rcnn import model
from ..common.optim import AdamW as optimizer
from ..common.optim import lr_multiplier
from ..common.train import train

# the plain student's settings (configs/Shapes/faster_rcnn_R18_FPN.py)
model.roi_heads.num_classes = 6
optimizer.lr = 2e-3  # the Faster R-CNN shapes rate (configs/common/optim.py)
train.max_iter = 1500
train.eval_period = 1500
train.output_dir = "./output/teachers/faster_rcnn_R18_FPN_lineage"
