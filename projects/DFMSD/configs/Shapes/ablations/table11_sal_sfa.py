"""Paper table 11, homogeneous (RetinaNet R34 -> R50 teachers, RetinaNet R18 student): SAL + SFA (no ME)."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.masking_enhancement = False
dataloader.train.mapper.enhance = False  # no ME in the second stage either
train.output_dir = "./output/DFMSD/ablations/table11_sal_sfa"
