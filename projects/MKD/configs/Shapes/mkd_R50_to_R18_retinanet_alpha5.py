"""Paper table 5: the main MKD run with KD loss weight alpha = 5.0, the loss's ``weight`` (the main run has 1.0)."""
from .mkd_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train

model.distill_losses[0].weight = 5.0  # the paper's alpha
train.output_dir = "./output/MKD/mkd_R50_to_R18_retinanet_alpha5"
