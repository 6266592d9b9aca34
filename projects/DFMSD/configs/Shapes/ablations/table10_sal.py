"""Paper table 10, heterogeneous (Swin nano -> micro teachers, RetinaNet R18 student): SAL alone (two stages, no ME, no SFA)."""
from ..dfmsd_swin_nano_micro_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.masking_enhancement = False
dataloader.train.mapper.enhance = False  # no ME in the second stage either
model.distill_losses[0].gamma = 0.0
train.output_dir = "./output/DFMSD/ablations/table10_sal"
