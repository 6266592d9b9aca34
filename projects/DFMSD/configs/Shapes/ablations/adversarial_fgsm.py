"""The optional adversarial step of DFMSD section 3.4 (off by default): one FGSM step of 2
pixel levels on the enhanced view, towards a larger teacher-student feature distance."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

model.adversarial_epsilon = 2.0
train.output_dir = "./output/DFMSD/ablations/adversarial_fgsm"
