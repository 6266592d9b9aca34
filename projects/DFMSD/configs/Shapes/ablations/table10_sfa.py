"""Paper table 10, heterogeneous (Swin nano -> micro teachers, RetinaNet R18 student): SFA alone (one stage with the stronger teacher, no ME),
1500 iterations as the two-stage runs."""
from ..dfmsd_onestage_swin_micro_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train

model.masking_enhancement = False
dataloader.train.mapper.enhance = False
train.output_dir = "./output/DFMSD/ablations/table10_sfa"
