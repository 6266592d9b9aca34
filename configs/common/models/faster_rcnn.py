"""CPU-sized Faster R-CNN student: ResNet-18 at half width (base_width 32), 64-channel
FPN p2-p6, BN in the backbone because it trains from scratch.

Tuned for inputs of about 128 px (the shapes data config resizes its 160-256 px
images) with many small objects: RPN anchors 16..256 px, far fewer proposals
and ROI samples than detectron2's 800 px settings (images hold at most ten
objects; on the CPU, RoIAlign's backward and the RPN's NMS cost a third of an
iteration at detectron2's 512 samples and 1000 proposals per level), and ROI
level assignment scaled down with the images (``canonical_box_size=56``: a
56 px box is pooled from p4, 14 px and smaller from p2). Heads follow
``model.backbone.out_channels``; ``num_classes`` defaults to 6.
"""
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.anchor_generator import DefaultAnchorGenerator
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.matcher import Matcher
from detectron2.modeling.meta_arch import GeneralizedRCNN
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.proposal_generator import RPN, StandardRPNHead
from detectron2.modeling.roi_heads import FastRCNNConvFCHead, FastRCNNOutputLayers, StandardROIHeads

from d2kd.modeling.backbone import make_resnet_stages

model = L(GeneralizedRCNN)(
    backbone=L(FPN)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels="${..stages.base_width}", norm="BN"),
            stages=L(make_resnet_stages)(depth=18, base_width=32, norm="BN"),
            out_features=["res2", "res3", "res4", "res5"],
        ),
        in_features="${.bottom_up.out_features}",
        out_channels=64,
        top_block=L(LastLevelMaxPool)(),
    ),
    proposal_generator=L(RPN)(
        in_features=["p2", "p3", "p4", "p5", "p6"],
        head=L(StandardRPNHead)(in_channels="${...backbone.out_channels}", num_anchors=3),
        anchor_generator=L(DefaultAnchorGenerator)(
            sizes=[[16], [32], [64], [128], [256]],
            aspect_ratios=[0.5, 1.0, 2.0],
            strides=[4, 8, 16, 32, 64],
            offset=0.0,
        ),
        anchor_matcher=L(Matcher)(
            thresholds=[0.3, 0.7], labels=[0, -1, 1], allow_low_quality_matches=True
        ),
        box2box_transform=L(Box2BoxTransform)(weights=[1.0, 1.0, 1.0, 1.0]),
        batch_size_per_image=256,
        positive_fraction=0.5,
        # (train, test); pre: per level, post: per image (a 128 px image has about 2k anchors)
        pre_nms_topk=(300, 300),
        post_nms_topk=(150, 150),
        nms_thresh=0.7,
    ),
    roi_heads=L(StandardROIHeads)(
        num_classes=6,
        batch_size_per_image=64,
        positive_fraction=0.25,
        proposal_matcher=L(Matcher)(
            thresholds=[0.5], labels=[0, 1], allow_low_quality_matches=False
        ),
        box_in_features=["p2", "p3", "p4", "p5"],
        box_pooler=L(ROIPooler)(
            output_size=7,
            scales=(1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32),
            sampling_ratio=0,
            pooler_type="ROIAlignV2",
            canonical_box_size=56,
        ),
        box_head=L(FastRCNNConvFCHead)(
            input_shape=L(ShapeSpec)(channels="${....backbone.out_channels}", height=7, width=7),
            conv_dims=[],
            fc_dims=[256, 256],
        ),
        box_predictor=L(FastRCNNOutputLayers)(
            input_shape=L(ShapeSpec)(channels=256),  # = box_head.fc_dims[-1]
            test_score_thresh=0.05,
            box2box_transform=L(Box2BoxTransform)(weights=(10, 10, 5, 5)),
            num_classes="${..num_classes}",
        ),
    ),
    # BGR, ImageNet statistics on the 0-255 scale (BN backbone trained from scratch).
    pixel_mean=[103.530, 116.280, 123.675],
    pixel_std=[57.375, 57.120, 58.395],
    input_format="BGR",
)
