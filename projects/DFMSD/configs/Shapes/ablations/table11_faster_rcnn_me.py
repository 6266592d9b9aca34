"""Paper table 11, homogeneous (Faster R-CNN R34 -> R18w64 teachers, Faster R-CNN R18 student): ME alone (one stage with the stronger teacher, no SFA),
on the two stages' total schedule."""
from ..dfmsd_onestage_R18w64_to_R18_faster_rcnn import dataloader, lr_multiplier, model, optimizer, train

model.distill_losses[0].gamma = 0.0
train.output_dir = "./output/DFMSD/ablations/table11_faster_rcnn_me"
