"""One-stage variant of dfmsd_swin_nano_micro_to_R18_retinanet.py (paper figure 3): the
stronger Swin teacher directly, with ME and SFA, for the same 1500 iterations. Also the
"ME + SFA" row of the heterogeneous ablation (paper table 10).
"""
from .dfmsd_swin_nano_micro_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train

train.max_iter = 1500  # = 2 stages x 750
train.eval_period = 1500
train.output_dir = "./output/DFMSD/dfmsd_onestage_swin_micro_to_R18_retinanet"
