"""Paper table 4 ablation: the main MKD run without L_Multiscale."""
from .mkd_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train

model.distill_losses[0].use_multiscale = False
train.output_dir = "./output/MKD/mkd_R50_to_R18_retinanet_no_multiscale"
