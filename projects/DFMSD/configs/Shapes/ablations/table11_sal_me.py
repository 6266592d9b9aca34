"""Paper table 11, homogeneous (RetinaNet R34 -> R50 teachers, RetinaNet R18 student): SAL + ME (no SFA)."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.distill_losses[0].gamma = 0.0
train.output_dir = "./output/DFMSD/ablations/table11_sal_me"
