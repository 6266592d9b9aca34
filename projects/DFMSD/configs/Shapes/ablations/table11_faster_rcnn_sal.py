"""Paper table 11, homogeneous (Faster R-CNN R34 -> R18w64 teachers, Faster R-CNN R18 student): SAL alone (two stages, no ME, no SFA)."""
from ..dfmsd_R34_R18w64_to_R18_faster_rcnn import dataloader, lr_multiplier, model, optimizer, stages, train

model.masking_enhancement = False
dataloader.train.mapper.enhance = False  # no ME in the second stage either
model.distill_losses[0].gamma = 0.0
train.output_dir = "./output/DFMSD/ablations/table11_faster_rcnn_sal"
