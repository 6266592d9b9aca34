"""The sanity profile's same-lineage teacher: the student's own architecture (Faster R-CNN
R18, ResNet-18 at width 32, 64-channel FPN), trained on from the student's warm-up
checkpoint for several times the students' schedule, so that it leads the plain student
clearly while it shares the student's feature basis (``tools/benchmark.py --profile
sanity`` sets ``train.init_checkpoint`` to the warm-up). A student that imitates it
channel for channel should gain; if it does not, knowledge does not reach the student.

Its checkpoint, output/teachers/faster_rcnn_R18_FPN_lineage/model_final.pth, is what
configs/sanity/fitnet_R18lineage_to_R18_faster_rcnn.py loads.
"""
from ..Shapes.faster_rcnn_R18_FPN import dataloader, lr_multiplier, model, optimizer, train

train.output_dir = "./output/teachers/faster_rcnn_R18_FPN_lineage"
