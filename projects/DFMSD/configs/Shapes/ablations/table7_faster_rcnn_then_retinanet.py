"""Paper table 7 (SAL), teachers of different families: Faster R-CNN R34 (stage 1) then
RetinaNet R50 (stage 2), teaching the RetinaNet R18 student. Stage 1 distils the levels
the Faster R-CNN shares with the student (p3-p6); ME uses the Faster R-CNN's boxes.
"""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train
from ...common.weak_teacher_faster_rcnn import teacher as _weak_teacher

stages[0].model.teachers = _weak_teacher
stages[0].model.distill_losses = [model.distill_losses[0]]
stages[0].model.distill_losses[0].in_features = ["p3", "p4", "p5", "p6"]  # strides 8-64, in both
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/faster_rcnn_R34_FPN_d2kd_shapes_bench_train.json"
train.output_dir = "./output/DFMSD/ablations/table7_faster_rcnn_then_retinanet"
