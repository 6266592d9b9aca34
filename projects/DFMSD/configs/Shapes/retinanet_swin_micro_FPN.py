"""The stronger transformer teacher (paper's ST-S analogue): the Swin of
retinanet_swin_nano_FPN.py at 1.5x width and twice the depth (embed 48, depths 2-2-4-2).
"""
from .retinanet_swin_nano_FPN import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.model_kwargs.update(embed_dim=48, depths=[2, 2, 4, 2], num_heads=[2, 4, 8, 16])
train.output_dir = "./output/teachers/retinanet_swin_micro_FPN"
