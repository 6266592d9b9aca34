"""Paper table 9: semantic feature alignment at P3 only (the paper's third FPN level, p5 here)."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.distill_losses[0].sfa_features = ["p5"]
train.output_dir = "./output/DFMSD/ablations/table9_sfa_p5"
