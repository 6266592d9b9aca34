"""CWD (channel-wise distribution KL, Shu et al. 2021): RetinaNet R50 -> R18."""
from ..common.distill import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import cwd as _cwd

_cwd.in_features = LEVELS
model.distill_losses = [_cwd]
train.output_dir = "./output/baselines/cwd_R50_to_R18_retinanet"
