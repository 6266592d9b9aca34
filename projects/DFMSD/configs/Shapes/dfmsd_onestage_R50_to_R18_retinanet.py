"""One-stage variant of dfmsd_R34_R50_to_R18_retinanet.py (paper figure 3): the
stronger teacher (RetinaNet R50) directly, with masking enhancement and SFA, on the
same total schedule as the two stages (1500 iterations). Also the "ME + SFA" row
of the homogeneous ablation (paper table 11).

Box cache: made with the two-stage config (the weak teacher's boxes).
"""
from .dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train

train.max_iter = 1500  # = 2 stages x 750
train.eval_period = 1500
train.output_dir = "./output/DFMSD/dfmsd_onestage_R50_to_R18_retinanet"
