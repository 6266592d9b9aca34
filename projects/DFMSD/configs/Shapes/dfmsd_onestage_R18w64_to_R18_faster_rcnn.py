"""One-stage variant of dfmsd_R34_R18w64_to_R18_faster_rcnn.py (paper figure 3): the
stronger teacher (Faster R-CNN R18w64) directly, with masking enhancement and SFA,
on the same total schedule as the two stages. Also the "ME + SFA" row of the
homogeneous ablation (paper table 11).

Box cache: made with the two-stage config (the weak teacher's boxes).
"""
from .dfmsd_R34_R18w64_to_R18_faster_rcnn import dataloader, lr_multiplier, model, optimizer, train

train.max_iter = 2 * train.max_iter  # the two stages' total
train.eval_period = train.max_iter
train.output_dir = "./output/DFMSD/dfmsd_onestage_R18w64_to_R18_faster_rcnn"
