"""Paper table 10, heterogeneous (Swin nano -> micro teachers, RetinaNet R18 student): SAL + ME (no SFA)."""
from ..dfmsd_swin_nano_micro_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.distill_losses[0].gamma = 0.0
train.output_dir = "./output/DFMSD/ablations/table10_sal_me"
