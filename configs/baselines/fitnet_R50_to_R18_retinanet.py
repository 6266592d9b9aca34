"""FitNet (feature MSE on every FPN level): RetinaNet R50 teacher -> R18 student."""
from ..common.distill import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import fitnet as _fitnet

_fitnet.in_features = LEVELS
model.distill_losses = [_fitnet]
train.output_dir = "./output/baselines/fitnet_R50_to_R18_retinanet"
