"""Paper table 9: semantic feature alignment at P2-P3 (p4-p5 here); the default is P1-P3 (p3-p5)."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.distill_losses[0].sfa_features = ["p4", "p5"]
train.output_dir = "./output/DFMSD/ablations/table9_sfa_p4_p5"
