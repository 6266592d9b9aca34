"""The weaker transformer teacher (paper's ST-T analogue): RetinaNet on the CPU-sized
Swin of configs/common/models/backbones.py (embed 32, depths 1-1-2-1, about 1.4M
parameters), 64-channel FPN p3-p7, trained from scratch on the shapes dataset.
"""
from d2kd.config import zoo

_retinanet = zoo.get_config("Shapes/retinanet_R50_FPN.py")
dataloader, lr_multiplier, model, optimizer, train = (
    _retinanet.dataloader, _retinanet.lr_multiplier, _retinanet.model, _retinanet.optimizer, _retinanet.train
)
_backbones = zoo.get_config("common/models/backbones.py")
swin_nano_fpn = _backbones.swin_nano_fpn

model.backbone.bottom_up = swin_nano_fpn.bottom_up
model.backbone.bottom_up.out_features = ["res3", "res4", "res5"]  # the RetinaNet FPN reads res3-res5
train.output_dir = "./output/teachers/retinanet_swin_nano_FPN"
