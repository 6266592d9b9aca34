"""Every file in configs/common/models loads, instantiates on CPU, trains and
evaluates on synthetic images, and survives LazyConfig.save -> load."""
import glob
import os
import tempfile
import unittest

import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone
from detectron2.structures import Boxes, Instances, PolygonMasks
from detectron2.utils.events import EventStorage

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "configs", "common", "models")
CONFIG_FILES = sorted(glob.glob(os.path.join(CONFIG_DIR, "*.py")))
IMAGE_SIZE = 64


def load(name):
    return LazyConfig.load(os.path.join(CONFIG_DIR, name))


def synthetic_inputs(num_images=2, size=IMAGE_SIZE):
    """Images (3, size, size) on the 0-255 scale, each with two boxes (and their
    polygon masks) of classes 1 and 3."""
    torch.manual_seed(0)
    inputs = []
    for i in range(num_images):
        boxes = torch.tensor([[4.0 + i, 6.0, 30.0, 28.0], [20.0, 24.0 + i, 58.0, 60.0]])
        instances = Instances((size, size))
        instances.gt_boxes = Boxes(boxes)
        instances.gt_classes = torch.tensor([1, 3])
        instances.gt_masks = PolygonMasks(
            [[[x0, y0, x1, y0, x1, y1, x0, y1]] for x0, y0, x1, y1 in boxes.tolist()]
        )
        image = torch.rand(3, size, size) * 255
        inputs.append({"image": image, "instances": instances, "height": size, "width": size})
    return inputs


def make_fast(node):
    """Fewer proposals and ROI samples: the wiring under test stays the same, the
    paper-sized box head (12544 x 1024 FC) then costs milliseconds, not seconds."""
    if "roi_heads" in node:
        node.proposal_generator.post_nms_topk = (64, 64)
        node.roi_heads.batch_size_per_image = 32
    return node


def model_entries(cfg):
    """(key, node) of the meta-architectures in a loaded config file."""
    return [(k, v) for k, v in cfg.items() if "_target_" in v and "backbone" in v]


_THREADS = torch.get_num_threads()


def setUpModule():
    # Tiny tensors: one thread is as fast, and immune to OpenMP spin-waits when
    # other processes share the cores (seen to triple these tests' time).
    torch.set_num_threads(1)


def tearDownModule():
    torch.set_num_threads(_THREADS)

class TestModelConfigs(unittest.TestCase):
    def check_train_and_eval(self, model, backward=True):
        model.train()
        with EventStorage():
            losses = model(synthetic_inputs())
        self.assertTrue(losses)
        for name, value in losses.items():
            self.assertTrue(torch.isfinite(value).all(), name)
        if backward:
            sum(losses.values()).backward()
            grads = [p.grad for p in model.parameters() if p.requires_grad]
            self.assertTrue(all(g is not None for g in grads))
        model.eval()
        with torch.no_grad():
            images = [{k: v for k, v in x.items() if k != "instances"} for x in synthetic_inputs()]
            outputs = model(images)
        self.assertEqual(len(outputs), 2)
        for output in outputs:
            self.assertEqual(list(output), ["instances"])
            self.assertEqual(output["instances"].image_size, (IMAGE_SIZE, IMAGE_SIZE))

    def check_save_round_trip(self, cfg):
        with tempfile.TemporaryDirectory() as tmp:
            first, second = os.path.join(tmp, "a.yaml"), os.path.join(tmp, "b.yaml")
            LazyConfig.save(cfg, first)
            self.assertTrue(os.path.isfile(first), "config could not be saved as yaml")
            LazyConfig.save(LazyConfig.load(first), second)
            with open(first) as f1, open(second) as f2:
                self.assertEqual(f1.read(), f2.read())
            return LazyConfig.load(first)

    def test_every_file_has_models_or_backbones(self):
        names = {os.path.basename(f) for f in CONFIG_FILES}
        self.assertTrue({"retinanet.py", "faster_rcnn.py", "mask_rcnn.py", "backbones.py"} <= names)
        for path in CONFIG_FILES:
            cfg = LazyConfig.load(path)
            self.assertTrue(len(cfg), path)
            for key, node in cfg.items():
                self.assertIn("_target_", node, f"{path}: top-level '{key}' is not a LazyCall")

    def test_models_train_eval_and_save(self):
        for path in CONFIG_FILES:
            cfg = LazyConfig.load(path)
            reloaded = self.check_save_round_trip(cfg)
            paper = os.path.basename(path) == "paper.py"
            for key, node in model_entries(cfg):
                with self.subTest(config=os.path.basename(path), key=key):
                    if paper:
                        # forward only: a ResNet-101 backward costs seconds on a CPU
                        self.check_train_and_eval(instantiate(make_fast(node)), backward=False)
                        continue
                    model = instantiate(node)
                    self.check_train_and_eval(model)
                    rebuilt = instantiate(reloaded[key])
                    self.assertEqual(set(rebuilt.state_dict()), set(model.state_dict()))

    def test_backbone_trees(self):
        cfg = load("backbones.py")
        for key, node in cfg.items():
            with self.subTest(key=key):
                backbone = instantiate(node)
                self.assertIsInstance(backbone, Backbone)
                shapes = backbone.output_shape()
                strides = {n: s.stride for n, s in shapes.items()}
                self.assertEqual(strides, {f"p{i}": 2**i for i in range(2, 7)})
                outputs = backbone(torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE))
                for name, feature in outputs.items():
                    stride = shapes[name].stride
                    side = -(-IMAGE_SIZE // stride)
                    self.assertEqual(tuple(feature.shape), (1, shapes[name].channels, side, side))

    def test_backbone_swaps(self):
        """A timm transformer under Faster R-CNN, a ConvNeXt bottom-up under RetinaNet."""
        trees = load("backbones.py")
        rcnn = load("faster_rcnn.py").model
        rcnn.backbone = trees.swin_nano_fpn
        self.check_train_and_eval(instantiate(rcnn))
        retina = load("retinanet.py").model
        retina.backbone.bottom_up = trees.convnext_atto_fpn.bottom_up
        self.check_train_and_eval(instantiate(retina))

    def test_heads_follow_fpn_width_and_num_classes(self):
        cfg = load("mask_rcnn.py")
        cfg.model.backbone.out_channels = 48
        cfg.model.roi_heads.num_classes = 3
        model = instantiate(cfg.model)
        self.assertEqual(model.proposal_generator.rpn_head.conv.in_channels, 48)
        self.assertEqual(model.roi_heads.box_head.fc1.in_features, 48 * 7 * 7)
        self.assertEqual(model.roi_heads.mask_head.mask_fcn1.in_channels, 48)
        self.assertEqual(model.roi_heads.box_predictor.cls_score.out_features, 4)
        self.assertEqual(model.roi_heads.mask_head.predictor.out_channels, 3)

        cfg = load("retinanet.py")
        cfg.model.backbone.out_channels = 48
        cfg.model.num_classes = 3
        cfg.model.backbone.bottom_up.stages.depth = 34
        model = instantiate(cfg.model)
        self.assertEqual(model.head.cls_subnet[0].in_channels, 48)
        self.assertEqual(model.head.cls_score.out_channels, 9 * 3)
        self.assertEqual(model.backbone.top_block.p6.in_channels, 48)
        self.assertEqual(model.backbone.output_shape()["p7"], ShapeSpec(channels=48, stride=128))

    def test_level_strides(self):
        for name, levels in (("retinanet.py", range(3, 8)), ("faster_rcnn.py", range(2, 7))):
            model = instantiate(load(name).model)
            strides = {n: s.stride for n, s in model.backbone.output_shape().items()}
            self.assertEqual(strides, {f"p{i}": 2**i for i in levels})


if __name__ == "__main__":
    unittest.main()
