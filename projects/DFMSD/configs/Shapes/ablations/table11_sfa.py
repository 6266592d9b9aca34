"""Paper table 11, homogeneous (RetinaNet R34 -> R50 teachers, RetinaNet R18 student): SFA alone (one stage with the stronger teacher, no ME),
1500 iterations as the two-stage runs."""
from ..dfmsd_onestage_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train

model.masking_enhancement = False
dataloader.train.mapper.enhance = False
train.output_dir = "./output/DFMSD/ablations/table11_sfa"
