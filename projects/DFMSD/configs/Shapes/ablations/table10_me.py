"""Paper table 10, heterogeneous (Swin nano -> micro teachers, RetinaNet R18 student): ME alone (one stage with the stronger teacher, no SFA),
1500 iterations as the two-stage runs."""
from ..dfmsd_onestage_swin_micro_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train

model.distill_losses[0].gamma = 0.0
train.output_dir = "./output/DFMSD/ablations/table10_me"
