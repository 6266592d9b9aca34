"""Shared fixtures: tiny CPU detectors built with the project's own backbone code."""
import os
import sys
import tempfile

import pytest
import torch

from own_coco import write_own_coco
from tool_runs import ROOT, load_tool

sys.path.insert(0, ROOT)  # the benchmarks package (tooling beside tools/) for its tests

os.environ.setdefault("D2KD_TEST", "1")

# Peak use of pytest's temporary folder: the largest test writes about 0.4 GiB,
# and pytest.ini removes each passing test's folder when it ends.
TEST_DISK_GIB = 2


def pytest_sessionstart(session):
    """Stop at once, saying why, when the temporary folder's disk is nearly full."""
    tmp_root = session.config.option.basetemp or tempfile.gettempdir()
    try:
        load_tool("check_disk").require_free_space(tmp_root, TEST_DISK_GIB, "the test suite")
    except SystemExit as error:
        pytest.exit(str(error), returncode=1)


def _tiny_fpn(depth=18, base_width=8, fpn_channels=16, levels="p3-p7"):
    from detectron2.modeling.backbone import FPN, BasicStem, ResNet
    from detectron2.modeling.backbone.fpn import LastLevelMaxPool, LastLevelP6P7

    from d2kd.modeling.backbone.resnet import make_resnet_stages

    if levels == "p3-p7":
        in_features = ["res3", "res4", "res5"]
        top_block = LastLevelP6P7(fpn_channels, fpn_channels, in_feature="p5")
    else:  # p2-p6
        in_features = ["res2", "res3", "res4", "res5"]
        top_block = LastLevelMaxPool()
    bottom_up = ResNet(
        stem=BasicStem(in_channels=3, out_channels=base_width, norm="BN"),
        stages=make_resnet_stages(depth, base_width=base_width, norm="BN"),
        out_features=in_features,
    )
    return FPN(
        bottom_up=bottom_up, in_features=in_features, out_channels=fpn_channels, top_block=top_block
    )


def build_tiny_retinanet(num_classes=3, depth=18, base_width=8, fpn_channels=16, input_format="BGR"):
    """RetinaNet with a ResNet-`depth` FPN at p3-p7; a few thousand parameters."""
    from detectron2.modeling.anchor_generator import DefaultAnchorGenerator
    from detectron2.modeling.box_regression import Box2BoxTransform
    from detectron2.modeling.matcher import Matcher
    from detectron2.modeling.meta_arch.retinanet import RetinaNet, RetinaNetHead

    backbone = _tiny_fpn(depth, base_width, fpn_channels, "p3-p7")
    shapes = [backbone.output_shape()[f] for f in ["p3", "p4", "p5", "p6", "p7"]]
    anchors = DefaultAnchorGenerator(
        sizes=[[8 * 2**i] for i in range(5)], aspect_ratios=[[1.0]], strides=[8, 16, 32, 64, 128]
    )
    head = RetinaNetHead(
        input_shape=shapes, num_classes=num_classes, conv_dims=[fpn_channels], num_anchors=1
    )
    torch.manual_seed(0)
    model = RetinaNet(
        backbone=backbone,
        head=head,
        head_in_features=["p3", "p4", "p5", "p6", "p7"],
        anchor_generator=anchors,
        box2box_transform=Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0)),
        anchor_matcher=Matcher([0.4, 0.5], [0, -1, 1], allow_low_quality_matches=True),
        num_classes=num_classes,
        pixel_mean=[103.53, 116.28, 123.675],
        pixel_std=[57.375, 57.12, 58.395],
        input_format=input_format,
    )
    return model


def build_tiny_faster_rcnn(num_classes=3, depth=18, base_width=8, fpn_channels=16, mask=False):
    """Faster (or Mask) R-CNN with a ResNet FPN at p2-p6, from detectron2's own lazy config."""
    from detectron2 import model_zoo
    from detectron2.config import LazyCall as L
    from detectron2.config import instantiate
    from detectron2.layers import ShapeSpec

    cfg = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model
    cfg.backbone = L(_tiny_fpn)(
        depth=depth, base_width=base_width, fpn_channels=fpn_channels, levels="p2-p6"
    )
    cfg.proposal_generator.head.in_channels = fpn_channels
    cfg.proposal_generator.anchor_generator.sizes = [[8], [16], [32], [64], [128]]
    cfg.proposal_generator.batch_size_per_image = 32
    heads = cfg.roi_heads
    heads.num_classes = num_classes
    heads.batch_size_per_image = 32
    heads.box_head.input_shape = ShapeSpec(channels=fpn_channels, height=7, width=7)
    heads.box_head.fc_dims = [32]
    heads.box_predictor.input_shape = ShapeSpec(channels=32)
    if mask:
        heads.mask_head.input_shape = ShapeSpec(channels=fpn_channels, width=14, height=14)
        heads.mask_head.conv_dims = [8]
    else:
        heads.mask_in_features = None
        heads.mask_pooler = None
        heads.mask_head = None
    cfg.pixel_std = [57.375, 57.12, 58.395]
    torch.manual_seed(0)
    return instantiate(cfg)


def synthetic_batch(num_images=2, size=(64, 64), num_classes=3, seed=0, masks=False):
    """detectron2 training inputs: random images with two boxes each (uint8-range floats)."""
    from detectron2.structures import Boxes, Instances, PolygonMasks

    gen = torch.Generator().manual_seed(seed)
    batch = []
    for i in range(num_images):
        height, width = size
        image = torch.randint(0, 256, (3, height, width), generator=gen).float()
        boxes = torch.tensor([[4.0, 6.0, 30.0, 34.0], [20.0, 18.0, 60.0, 50.0]])
        instances = Instances((height, width))
        instances.gt_boxes = Boxes(boxes)
        instances.gt_classes = torch.tensor([i % num_classes, (i + 1) % num_classes])
        if masks:
            instances.gt_masks = PolygonMasks(
                [[[4, 6, 30, 6, 30, 34, 4, 34]], [[20, 18, 60, 18, 60, 50, 20, 50]]]
            )
        batch.append({"image": image, "instances": instances, "height": height, "width": width})
    return batch


@pytest.fixture(scope="session")
def own_coco(tmp_path_factory):
    """A user's own COCO dataset (tests/own_coco.py): its folder, with train.json, val.json
    and images/; declare it with ``own_coco.own_data(folder)``. Shared: tests copy it before
    changing a file."""
    return write_own_coco(tmp_path_factory.mktemp("own_coco"))


@pytest.fixture
def tiny_batch():
    return synthetic_batch()


@torch.no_grad()
def calibrate_batchnorm(model, batches=2):
    """Give a randomly initialised model's BN layers running statistics of real
    activations (as a trained model has), so that its eval-mode features stay bounded."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    for seed in range(batches):
        images = model.preprocess_image(synthetic_batch(seed=seed)).tensor
        model.backbone(images)
    model.train(was_training)
    return model


def save_checkpoint(model, path):
    """Write ``model``'s weights as detectron2's checkpointer does ({"model": state_dict})."""
    torch.save({"model": model.state_dict(), "iteration": 0}, path)
    return str(path)
