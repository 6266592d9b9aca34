"""Masking rule ablation: masks drawn with probability proportional to the teacher's
attention instead of hiding the most attended positions/channels (DMKD's rule)."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.distill_losses[0].mask_mode = "sample"
train.output_dir = "./output/DFMSD/ablations/mask_mode_sample"
