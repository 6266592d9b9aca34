"""PKD (Pearson correlation of normalised features, Cao et al. 2022): RetinaNet R50 -> R18."""
from ..common.distill import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import pkd as _pkd

_pkd.in_features = LEVELS
model.distill_losses = [_pkd]
train.output_dir = "./output/baselines/pkd_R50_to_R18_retinanet"
