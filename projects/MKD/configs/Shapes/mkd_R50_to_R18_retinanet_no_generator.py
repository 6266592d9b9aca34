"""The main MKD run with the paper's literal L_FDMD (eq. 4): the frequency-masked
student feature is compared with the teacher directly, without the
conv3x3-ReLU-conv3x3 generator that we add by default (see README)."""
from .mkd_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train

model.distill_losses[0].use_generator = False
train.output_dir = "./output/MKD/mkd_R50_to_R18_retinanet_no_generator"
