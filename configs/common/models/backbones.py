"""Named backbone trees, bottom-up network + FPN (p2-p6, ``LastLevelMaxPool``):
detectron2 ResNet-18/34/50, timm ResNet-18/50, ConvNeXt atto/tiny, Swin tiny/nano
and torchvision's MobileNetV2, all from random weights.

A tree replaces ``model.backbone`` of the Faster/Mask R-CNN configs::

    from ..common.models.faster_rcnn import model
    from ..common.models.backbones import convnext_atto_fpn
    model.backbone = convnext_atto_fpn

RetinaNet (p3-p7) takes only the bottom-up part; its FPN reads res3-res5 and
ignores res2::

    from ..common.models.retinanet import model
    from ..common.models.backbones import swin_nano_fpn
    model.backbone.bottom_up = swin_nano_fpn.bottom_up

Heads follow ``backbone.out_channels``. With ImageNet weights (``weights_path=``
of the timm and MobileNetV2 bottom-ups) the model must feed RGB images normalised
with the ImageNet mean/std: ``model.pixel_mean=[123.675, 116.28, 103.53]``,
``model.pixel_std=[58.395, 57.12, 57.375]``, ``model.input_format="RGB"`` and
the data mappers' ``image_format="RGB"`` (see ``retinanet_mobilenetv2.py``).

Swin needs ``strict_img_size=False`` to accept detection inputs of any size
(multiples of 32, which the FPN's size divisibility guarantees).
"""
from detectron2.config import LazyCall as L
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelMaxPool

from d2kd.modeling.backbone import MobileNetV2Backbone, TimmBackbone, make_resnet_stages

resnet18_fpn = L(FPN)(
    bottom_up=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels="${..stages.base_width}", norm="BN"),
        stages=L(make_resnet_stages)(depth=18, base_width=64, norm="BN"),
        out_features=["res2", "res3", "res4", "res5"],
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=64,
    top_block=L(LastLevelMaxPool)(),
)

resnet34_fpn = L(FPN)(
    bottom_up=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels="${..stages.base_width}", norm="BN"),
        stages=L(make_resnet_stages)(depth=34, base_width=64, norm="BN"),
        out_features=["res2", "res3", "res4", "res5"],
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=128,
    top_block=L(LastLevelMaxPool)(),
)

resnet50_fpn = L(FPN)(
    bottom_up=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels="${..stages.base_width}", norm="BN"),
        stages=L(make_resnet_stages)(depth=50, base_width=64, norm="BN", stride_in_1x1=True),
        out_features=["res2", "res3", "res4", "res5"],
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=128,
    top_block=L(LastLevelMaxPool)(),
)

timm_resnet18_fpn = L(FPN)(
    bottom_up=L(TimmBackbone)(
        model_name="resnet18", out_features=["res2", "res3", "res4", "res5"]
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=64,
    top_block=L(LastLevelMaxPool)(),
)

timm_resnet50_fpn = L(FPN)(
    bottom_up=L(TimmBackbone)(
        model_name="resnet50", out_features=["res2", "res3", "res4", "res5"]
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=128,
    top_block=L(LastLevelMaxPool)(),
)

convnext_atto_fpn = L(FPN)(
    bottom_up=L(TimmBackbone)(
        model_name="convnext_atto", out_features=["res2", "res3", "res4", "res5"]
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=64,
    top_block=L(LastLevelMaxPool)(),
)

convnext_tiny_fpn = L(FPN)(
    bottom_up=L(TimmBackbone)(
        model_name="convnext_tiny", out_features=["res2", "res3", "res4", "res5"]
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=128,
    top_block=L(LastLevelMaxPool)(),
)

# Swin-T as published (28M), windows of 7, any input size.
swin_tiny_fpn = L(FPN)(
    bottom_up=L(TimmBackbone)(
        model_name="swin_tiny_patch4_window7_224",
        out_features=["res2", "res3", "res4", "res5"],
        model_kwargs=dict(strict_img_size=False),
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=128,
    top_block=L(LastLevelMaxPool)(),
)

# A CPU-sized Swin (about 1.4M parameters): Swin-T layout at a third of the width, fewer blocks.
swin_nano_fpn = L(FPN)(
    bottom_up=L(TimmBackbone)(
        model_name="swin_tiny_patch4_window7_224",
        out_features=["res2", "res3", "res4", "res5"],
        model_kwargs=dict(
            strict_img_size=False,
            embed_dim=32,
            depths=(1, 1, 2, 1),
            num_heads=(1, 2, 4, 8),
            window_size=7,
            drop_path_rate=0.0,
        ),
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=64,
    top_block=L(LastLevelMaxPool)(),
)

# Edge student; set bottom_up.weights_path to torchvision's mobilenet_v2-b0353104.pth
# for ImageNet initialisation (RGB input, see the module docstring).
mobilenetv2_fpn = L(FPN)(
    bottom_up=L(MobileNetV2Backbone)(
        width_mult=1.0,
        out_features=["res2", "res3", "res4", "res5"],
        weights_path=None,
        norm="BN",
        freeze_at=0,
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=64,
    top_block=L(LastLevelMaxPool)(),
)
