"""CPU-sized RetinaNet student: ResNet-18 at half width (base_width 32), 64-channel
FPN p3-p7, BN everywhere in the backbone because it trains from scratch.

Tuned for 160-256 px inputs with many small objects: anchors
12..305 px (three octave scales per level) instead of detectron2's 32..812.
Heads follow ``model.backbone.out_channels`` through interpolation, so
``model.backbone.out_channels=128`` or swapping ``model.backbone.bottom_up``
(see ``backbones.py``) needs no other change. ``num_classes`` defaults to 6 (the
bundled shapes dataset); leaf configs override it.
"""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.anchor_generator import DefaultAnchorGenerator
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelP6P7
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.matcher import Matcher
from detectron2.modeling.meta_arch import RetinaNet
from detectron2.modeling.meta_arch.retinanet import RetinaNetHead

from d2kd.modeling.backbone import make_resnet_stages

model = L(RetinaNet)(
    backbone=L(FPN)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels="${..stages.base_width}", norm="BN"),
            stages=L(make_resnet_stages)(depth=18, base_width=32, norm="BN"),
            out_features=["res3", "res4", "res5"],
        ),
        in_features=["res3", "res4", "res5"],
        out_channels=64,
        # P6 from P5 (not from res5), so depth/width changes of the bottom-up never break it.
        top_block=L(LastLevelP6P7)(
            in_channels="${..out_channels}", out_channels="${..out_channels}", in_feature="p5"
        ),
    ),
    head=L(RetinaNetHead)(
        input_shape=[L(ShapeSpec)(channels="${....backbone.out_channels}")] * 5,
        num_classes="${..num_classes}",
        conv_dims=["${...backbone.out_channels}"] * 4,
        prior_prob=0.01,
        num_anchors=9,
    ),
    anchor_generator=L(DefaultAnchorGenerator)(
        sizes=[[x, x * 2 ** (1.0 / 3), x * 2 ** (2.0 / 3)] for x in [12, 24, 48, 96, 192]],
        aspect_ratios=[0.5, 1.0, 2.0],
        strides=[8, 16, 32, 64, 128],
        offset=0.0,
    ),
    box2box_transform=L(Box2BoxTransform)(weights=[1.0, 1.0, 1.0, 1.0]),
    anchor_matcher=L(Matcher)(
        thresholds=[0.4, 0.5], labels=[0, -1, 1], allow_low_quality_matches=True
    ),
    num_classes=6,
    head_in_features=["p3", "p4", "p5", "p6", "p7"],
    focal_loss_alpha=0.25,
    focal_loss_gamma=2.0,
    # BGR, ImageNet statistics on the 0-255 scale (BN backbone trained from scratch).
    pixel_mean=[103.530, 116.280, 123.675],
    pixel_std=[57.375, 57.120, 58.395],
    input_format="BGR",
)
