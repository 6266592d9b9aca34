"""Paper table 10, heterogeneous (Swin nano -> micro teachers, RetinaNet R18 student): SAL + SFA (no ME)."""
from ..dfmsd_swin_nano_micro_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.masking_enhancement = False
dataloader.train.mapper.enhance = False  # no ME in the second stage either
train.output_dir = "./output/DFMSD/ablations/table10_sal_sfa"
