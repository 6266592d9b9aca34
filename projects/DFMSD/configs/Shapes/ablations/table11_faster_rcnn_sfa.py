"""Paper table 11, homogeneous (Faster R-CNN R34 -> R18w64 teachers, Faster R-CNN R18 student): SFA alone (one stage with the stronger teacher, no ME),
on the two stages' total schedule."""
from ..dfmsd_onestage_R18w64_to_R18_faster_rcnn import dataloader, lr_multiplier, model, optimizer, train

model.masking_enhancement = False
dataloader.train.mapper.enhance = False
train.output_dir = "./output/DFMSD/ablations/table11_faster_rcnn_sfa"
