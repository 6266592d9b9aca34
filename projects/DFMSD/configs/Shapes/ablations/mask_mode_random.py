"""Masking rule ablation: uniformly random masks (MGD's rule, with DMKD's two branches)."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.distill_losses[0].mask_mode = "random"
train.output_dir = "./output/DFMSD/ablations/mask_mode_random"
