"""MKD (projects/MKD): the four terms against hand computations, the frequency
mask, gradients, construction errors, the configs and a short run of the real tool."""
import cmath
import copy
import functools
import glob
import math
import os
import re
from unittest import mock

import pytest
import torch
from conftest import (
    build_tiny_faster_rcnn,
    build_tiny_retinanet,
    save_checkpoint,
    synthetic_batch,
)
from detectron2.config import LazyConfig, instantiate
from detectron2.utils.events import EventStorage
from omegaconf import OmegaConf
from tool_runs import ROOT, TINY_DATA, load_tool, read_metrics, run_tool, shrink_model

from d2kd.config import apply_overrides_strictly
from d2kd.losses import DistillContext, common
from d2kd.modeling import DistillationDetector, Teacher
from mkd import FADLoss, FDMDLoss, FeatureMSELoss, MKDLoss, MultiscaleLoss

CONTEXT = DistillContext(strides={"p3": 8, "p4": 16}, image_sizes=[(32, 32)])


def _t(nested):
    return torch.tensor(nested, dtype=torch.float64)


def _one_level(s, t, level="p3"):
    return {level: s}, {level: t}


# ------------------------------------------------------------ hand-computed terms


def test_fea_hand_value():
    s = _t([[[[1.0, 2.0], [3.0, 4.0]]], [[[0.0, 0.0], [0.0, 1.0]]]])  # (2, 1, 2, 2)
    t = _t([[[[0.0, 0.0], [1.0, 1.0]]], [[[0.0, 0.0], [0.0, -1.0]]]])
    # squared differences: 1, 4, 4, 9 and 0, 0, 0, 4 -> 22 / 8
    out = FeatureMSELoss(in_features=["p3"], weight=2.0)(*_one_level(s, t), CONTEXT)
    assert set(out) == {"loss_mkd_fea_p3"}
    assert out["loss_mkd_fea_p3"].item() == pytest.approx(2.0 * 22 / 8)


def test_multiscale_hand_value_with_a_window_over_the_border():
    s = _t([[[[0, 1, 2], [3, 4, 5], [6, 7, 8]]]])  # (1, 1, 3, 3)
    t = torch.zeros_like(s)
    # k=1: mean of 0^2..8^2 = 204 / 9
    # k=2, ceil_mode: windows {0,1,3,4}, {2,5}, {6,7}, {8} average to 2, 3.5, 6.5, 8
    #      -> (4 + 12.25 + 42.25 + 64) / 4 = 30.625
    expected = 204 / 9 + 30.625
    out = MultiscaleLoss(in_features=["p3"], kernels=[1, 2])(*_one_level(s, t), CONTEXT)
    assert out["loss_mkd_multiscale_p3"].item() == pytest.approx(expected)


def test_fad_hand_value():
    tau = 2.0
    s = _t([[[[0.0, 0.0]]]])  # student: uniform over the 2 positions
    t = _t([[[[0.0, math.log(9.0)]]]])  # teacher / tau = (0, ln 3): p = (1/4, 3/4)
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    out = FADLoss(in_features=["p3"], tau=tau)(*_one_level(s, t), CONTEXT)
    assert out["loss_mkd_fad_p3"].item() == pytest.approx(tau**2 * kl)


def test_fad_averages_over_samples_and_channels():
    s = _t([[[[0.0, 0.0]], [[0.0, 0.0]]]])  # (1, 2, 1, 2)
    t = _t([[[[0.0, math.log(3.0)]], [[0.0, 0.0]]]])  # channel 1 matches: KL 0
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    out = FADLoss(in_features=["p3"], tau=1.0)(*_one_level(s, t), CONTEXT)
    assert out["loss_mkd_fad_p3"].item() == pytest.approx(kl / 2)


def _naive_masked_feature(x, keep):
    """Re(IFFT2(M * FFT2(x))) by the DFT definition, with Python loops."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, h, w, dtype=torch.float64)
    for ni in range(n):
        for ci in range(c):
            spectrum = {
                (u, v): sum(
                    float(x[ni, ci, a, b]) * cmath.exp(-2j * math.pi * (u * a / h + v * b / w))
                    for a in range(h)
                    for b in range(w)
                )
                for u in range(h)
                for v in range(w)
            }
            for a in range(h):
                for b in range(w):
                    value = sum(
                        float(keep[ni, 0, u, v]) * spectrum[u, v]
                        * cmath.exp(2j * math.pi * (u * a / h + v * b / w))
                        for u in range(h)
                        for v in range(w)
                    )
                    out[ni, ci, a, b] = (value / (h * w)).real
    return out


def test_fdmd_literal_hand_value_with_a_known_mask():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(2, 2, 3, 4, generator=g, dtype=torch.float64)
    t = torch.randn(2, 2, 3, 4, generator=g, dtype=torch.float64)
    zeta = 0.4
    # the mask the loss draws after torch.manual_seed(7): M = 0 where U(0, 1) < zeta
    keep = torch.rand((2, 1, 3, 4), generator=torch.Generator().manual_seed(7)) >= zeta
    assert 0 < keep.sum() < keep.numel()
    expected = ((_naive_masked_feature(s, keep) - t) ** 2).mean().item()
    loss = FDMDLoss(in_features=["p3"], zeta=zeta, use_generator=False, weight=3.0)
    torch.manual_seed(7)
    out = loss(*_one_level(s, t), CONTEXT)
    assert out["loss_mkd_fdmd_p3"].item() == pytest.approx(3.0 * expected)


def test_fdmd_generator_hand_value():
    """zeta=0 keeps the feature; a generator set to 2 * relu(x) gives a hand-known value."""
    loss = FDMDLoss(in_features=["p3"], channels=1, zeta=0.0)
    first, _, second = loss.generators["p3"]
    with torch.no_grad():
        for conv, gain in ((first, 1.0), (second, 2.0)):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = gain  # centre tap: a 1x1 identity times gain
            conv.bias.zero_()
    s = torch.tensor([[[[1.0, -2.0], [3.0, -4.0]]]])
    t = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]]])
    # G(s) = 2 * relu(s) = (2, 0, 6, 0); squared differences 1, 1, 25, 1
    out = loss(*_one_level(s, t), CONTEXT)
    assert out["loss_mkd_fdmd_p3"].item() == pytest.approx(28 / 4)


# ------------------------------------------------------------ frequency mask


def _impulse(n, h, w):
    x = torch.zeros(n, 1, h, w, dtype=torch.float64)
    x[:, :, 0, 0] = 1.0
    return x


def test_frequency_mask_zeta_zero_is_identity_and_one_is_zero():
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    keep_all = FDMDLoss(in_features=["p3"], zeta=0.0, use_generator=False)
    drop_all = FDMDLoss(in_features=["p3"], zeta=1.0, use_generator=False)
    assert torch.allclose(keep_all.reconstruct("p3", x), x, atol=1e-12)
    assert torch.equal(drop_all.reconstruct("p3", x), torch.zeros_like(x))


def test_frequency_mask_output_is_real_with_the_input_dtype():
    for dtype in (torch.float32, torch.float64):
        out = FDMDLoss(in_features=["p3"], zeta=0.5, use_generator=False).reconstruct(
            "p3", torch.randn(2, 3, 8, 8, dtype=dtype)
        )
        assert not out.is_complex() and out.dtype == dtype and out.shape == (2, 3, 8, 8)


def test_frequency_masks_differ_across_samples_and_keep_about_one_minus_zeta():
    """For a unit impulse at the origin, Re(IFFT2(M * FFT2(x)))[0, 0] = mean(M), the kept fraction."""
    zeta, n, h, w = 0.3, 64, 16, 16
    out = FDMDLoss(in_features=["p3"], zeta=zeta, use_generator=False).reconstruct("p3", _impulse(n, h, w))
    kept = out[:, 0, 0, 0]
    # Re(IFFT2(M)) differs between samples: a new mask per sample
    assert torch.unique(out.flatten(1), dim=0).shape[0] == n
    # the mean of n*h*w Bernoulli(0.7) draws: std about 0.003
    assert kept.mean().item() == pytest.approx(1 - zeta, abs=0.02)
    assert 0.5 < kept.min().item() and kept.max().item() < 0.9


# ------------------------------------------------------------ gradients


def test_gradients_reach_the_student_and_the_generator_only():
    loss = MKDLoss(in_features=["p3", "p4"], channels=4)
    student = {
        "p3": torch.randn(2, 4, 8, 8, requires_grad=True),
        "p4": torch.randn(2, 4, 4, 4, requires_grad=True),
    }
    teacher = {k: torch.randn_like(v).requires_grad_(True) for k, v in student.items()}
    out = loss(student, teacher, CONTEXT)
    sum(out.values()).backward()
    for level in ("p3", "p4"):
        assert student[level].grad is not None and student[level].grad.abs().sum() > 0
        assert teacher[level].grad is None
    generators = loss.terms["fdmd"].generators
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generators.parameters())


def test_each_term_alone_sends_gradient_to_the_student():
    for term in (
        FeatureMSELoss(in_features=["p3"]),
        MultiscaleLoss(in_features=["p3"], kernels=[1, 2]),
        FDMDLoss(in_features=["p3"], zeta=0.5, use_generator=False),
        FADLoss(in_features=["p3"], tau=2.0),
    ):
        s = torch.randn(2, 3, 4, 4, requires_grad=True)
        t = torch.randn(2, 3, 4, 4, requires_grad=True)
        (value,) = term({"p3": s}, {"p3": t}, CONTEXT).values()
        value.backward()
        assert s.grad.abs().sum() > 0 and t.grad is None, type(term).__name__


# ------------------------------------------------------------ the composite loss


def test_mkd_loss_keys_and_weights():
    torch.manual_seed(0)
    student = {"p3": torch.randn(2, 4, 8, 8), "p4": torch.randn(2, 4, 4, 4)}
    teacher = {k: torch.randn_like(v) for k, v in student.items()}
    weights = dict(fea_weight=0.5, multiscale_weight=2.0, fdmd_weight=3.0, fad_weight=0.25)
    loss = MKDLoss(
        in_features=["p3", "p4"], weight=0.1, zeta=0.0, use_generator=False, kernels=[1, 2], tau=2.0, **weights
    )
    out = loss(student, teacher, CONTEXT)
    terms = {
        "fea": (FeatureMSELoss(in_features=["p3", "p4"]), weights["fea_weight"]),
        "multiscale": (MultiscaleLoss(in_features=["p3", "p4"], kernels=[1, 2]), weights["multiscale_weight"]),
        "fdmd": (FDMDLoss(in_features=["p3", "p4"], zeta=0.0, use_generator=False), weights["fdmd_weight"]),
        "fad": (FADLoss(in_features=["p3", "p4"], tau=2.0), weights["fad_weight"]),
    }
    assert set(out) == {f"loss_mkd_{name}_{lvl}" for name in terms for lvl in ("p3", "p4")}
    for name, (term, weight) in terms.items():
        alone = term(student, teacher, CONTEXT)
        for level in ("p3", "p4"):
            key = f"loss_mkd_{name}_{level}"
            assert out[key].item() == pytest.approx(0.1 * weight * alone[key].item(), rel=1e-6), key


def test_mkd_loss_switches_drop_terms_and_their_modules():
    loss = MKDLoss(in_features=["p3"], channels=4, use_fdmd=False, use_multiscale=False)
    assert loss.enabled_terms == ["fea", "fad"]
    assert not any("generator" in name for name, _ in loss.named_parameters())
    out = loss({"p3": torch.randn(1, 4, 4, 4)}, {"p3": torch.randn(1, 4, 4, 4)}, CONTEXT)
    assert set(out) == {"loss_mkd_fea_p3", "loss_mkd_fad_p3"}
    # no channels needed when FDMD is off or literal
    MKDLoss(in_features=["p3"], use_fdmd=False)
    MKDLoss(in_features=["p3"], use_generator=False)


def test_mkd_weight_is_read_at_every_forward():
    loss = MKDLoss(in_features=["p3"], use_fdmd=False)
    s, t = {"p3": torch.randn(1, 2, 4, 4)}, {"p3": torch.randn(1, 2, 4, 4)}
    before = loss(s, t, CONTEXT)["loss_mkd_fea_p3"].item()
    loss.weight = 5.0
    assert loss(s, t, CONTEXT)["loss_mkd_fea_p3"].item() == pytest.approx(5.0 * before)
    with pytest.warns(DeprecationWarning, match="alpha is deprecated: use .weight"):
        loss.alpha = 2.0  # the old attribute sets weight
    assert loss.weight == loss.alpha == 2.0


# ------------------------------------------------------------ alpha: the deprecated name of weight

_ALPHA_DEPRECATED = r"model\.distill_losses\.<i>\.alpha is deprecated: use model\.distill_losses\.<i>\.weight"


def test_deprecated_alpha_gives_the_loss_of_weight_and_warns():
    torch.manual_seed(0)
    student = {"p3": torch.randn(2, 4, 8, 8), "p4": torch.randn(2, 4, 4, 4)}
    teacher = {k: torch.randn_like(v) for k, v in student.items()}
    settings = dict(in_features=["p3", "p4"], channels=4, kernels=[1, 2], fdmd_weight=1.1)
    torch.manual_seed(1)  # the FDMD generators' initialisation
    new = MKDLoss(weight=0.3, **settings)
    torch.manual_seed(1)
    with pytest.warns(DeprecationWarning, match=_ALPHA_DEPRECATED), mock.patch.object(common.logger, "warning") as log:
        old = MKDLoss(alpha=0.3, **settings)
    (message,), _ = log.call_args  # logged too: Python hides a DeprecationWarning by default
    assert re.match(_ALPHA_DEPRECATED, message)
    assert old.weight == 0.3
    torch.manual_seed(2)  # FDMD's frequency mask
    expected = new(student, teacher, CONTEXT)
    torch.manual_seed(2)
    got = old(student, teacher, CONTEXT)
    assert list(got) == list(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)  # bit for bit


def test_deprecated_alpha_in_a_lazy_config_builds_the_loss_of_weight():
    node = _mkd_node(_load(MAIN))
    del node["weight"]
    node.alpha = 5.0  # a config written before the rename: L(MKDLoss)(alpha=5.0, ...)
    with pytest.warns(DeprecationWarning, match=_ALPHA_DEPRECATED):
        assert instantiate(node).weight == 5.0
    cfg = apply_overrides_strictly(_load(MAIN), ["model.distill_losses.0.weight=2.5"])
    assert instantiate(_mkd_node(cfg)).weight == 2.5


def test_deprecated_alpha_override_sets_weight_with_a_warning():
    """Commands written before the rename (the benchmark's recorded runs) keep working."""
    with pytest.warns(DeprecationWarning, match=r"model.distill_losses.0.alpha is deprecated: use "
                                                r"model.distill_losses.0.weight"):
        cfg = apply_overrides_strictly(_load(MAIN), ["model.distill_losses.0.alpha=0.000286"])
    node = _mkd_node(cfg)
    assert node.weight == 0.000286 and "alpha" not in node
    assert instantiate(node).weight == 0.000286
    with pytest.raises(Exception, match="has no key 'model.distill_losses.0.alphaa'"):
        apply_overrides_strictly(_load(MAIN), ["model.distill_losses.0.alphaa=1"])


@pytest.mark.parametrize("weight", [1.0, 0.5])  # also at weight's default value
def test_weight_and_alpha_both_given_is_an_error_naming_both(weight):
    with pytest.raises(ValueError, match=rf"both weight={weight} and alpha=0.3 are given.*give only weight"):
        MKDLoss(in_features=["p3"], channels=4, weight=weight, alpha=0.3)


# ------------------------------------------------------------ errors at construction


@pytest.mark.parametrize("zeta", [-0.1, 1.5, float("nan")])
def test_bad_zeta(zeta):
    with pytest.raises(ValueError, match="zeta"):
        FDMDLoss(in_features=["p3"], zeta=zeta, use_generator=False)
    with pytest.raises(ValueError, match="zeta"):
        MKDLoss(in_features=["p3"], channels=4, zeta=zeta)


@pytest.mark.parametrize("kernels", [[], [0], [1, -2], [1.5], 2, "124"])
def test_bad_kernels(kernels):
    with pytest.raises(ValueError, match="kernels"):
        MultiscaleLoss(in_features=["p3"], kernels=kernels)
    with pytest.raises(ValueError, match="kernels"):
        MKDLoss(in_features=["p3"], channels=4, kernels=kernels)


@pytest.mark.parametrize("tau", [0.0, -1.0])
def test_bad_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        FADLoss(in_features=["p3"], tau=tau)
    with pytest.raises(ValueError, match="tau"):
        MKDLoss(in_features=["p3"], channels=4, tau=tau)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(weight=-0.1), r"weight \(eq. 6's alpha, the KD loss weight\) must be >= 0"),
        (dict(alpha=-0.1), "weight"),
        (dict(fea_weight=-1.0), "fea_weight"),
        (dict(multiscale_weight=-1.0), "multiscale_weight"),
        (dict(fdmd_weight=-1.0), "fdmd_weight"),
        (dict(fad_weight=-1.0), "fad_weight"),
    ],
)
def test_negative_alpha_or_weight(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MKDLoss(in_features=["p3"], channels=4, **kwargs)


def test_other_bad_settings():
    with pytest.raises(ValueError, match="weight"):
        FeatureMSELoss(in_features=["p3"], weight=-1.0)
    with pytest.raises(ValueError, match="channels"):
        FDMDLoss(in_features=["p3"])  # a generator needs the channel count
    with pytest.raises(ValueError, match="switched off"):
        MKDLoss(in_features=["p3"], use_fea=False, use_multiscale=False, use_fdmd=False, use_fad=False)


def test_kernel_larger_than_the_smallest_feature_map():
    loss = MKDLoss(in_features=["p3", "p4"], channels=4, kernels=[1, 2, 4])
    loss.check_feature_sizes({"p3": 8, "p4": 4})  # equal to the kernel is fine
    with pytest.raises(ValueError, match=r"kernel 4 .*'p4': 3"):
        loss.check_feature_sizes({"p3": 6, "p4": 3})


def test_detector_checks_kernels_against_min_input_size(tmp_path):
    path = save_checkpoint(build_tiny_retinanet(), tmp_path / "t.pth")
    teacher = Teacher(model=build_tiny_retinanet(), weights=path)

    def build(min_input_size):
        return DistillationDetector(
            student=build_tiny_retinanet(),
            teachers=teacher,
            distill_losses=[MKDLoss(in_features=["p3", "p4", "p5"], channels=16, kernels=[1, 2, 4])],
            min_input_size=min_input_size,
        )

    build(128)  # p5: 128 / 32 = 4 cells
    with pytest.raises(ValueError, match="larger than the smallest feature map"):
        build(96)  # p5: 3 cells


# ------------------------------------------------------------ inside the detector


def test_training_step_in_the_detector(tmp_path):
    """A Faster R-CNN teacher (p2-p6, 24 ch) teaches a RetinaNet student (p3-p7, 16 ch)."""
    path = save_checkpoint(build_tiny_faster_rcnn(fpn_channels=24), tmp_path / "t.pth")
    teacher = Teacher(model=build_tiny_faster_rcnn(fpn_channels=24), weights=path)
    model = DistillationDetector(
        student=build_tiny_retinanet(),
        teachers=teacher,
        distill_losses=[MKDLoss(in_features=["p3", "p4"], channels=24, kernels=[1, 2])],
        min_input_size=64,
    )
    with EventStorage():
        losses = model(synthetic_batch())
    mkd_keys = {k for k in losses if k.startswith("loss_mkd_")}
    assert mkd_keys == {f"loss_mkd_{t}_{lvl}" for t in ("fea", "multiscale", "fdmd", "fad") for lvl in ("p3", "p4")}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    fdmd = model.distill_losses[0].terms["fdmd"]
    assert fdmd.generators["p3"][0].weight.grad is not None
    assert model.student.backbone.bottom_up.stem.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert any(k.startswith("distill_losses.0.terms.fdmd.generators.") for k in model.state_dict())


# ------------------------------------------------------------ configs

MKD_CONFIGS = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "projects/MKD/configs/*/mkd_*.py"))
    if "/common/" not in p
)
# where the teachers of the MKD configs are trained
TEACHER_CONFIGS = sorted(
    os.path.relpath(p, ROOT)
    for pattern in ("configs/Shapes/*.py", "projects/MKD/configs/*/*.py")
    for p in glob.glob(os.path.join(ROOT, pattern))
    if not os.path.basename(p).startswith(("_", "mkd_")) and "/common/" not in p
)
MAIN = "projects/MKD/configs/Shapes/mkd_R50_to_R18_retinanet.py"
MASK = "projects/MKD/configs/Shapes/mkd_R18w64_to_R18_mask_rcnn.py"


@functools.lru_cache(maxsize=None)
def _load_once(config):
    return LazyConfig.load(os.path.join(ROOT, config))


def _load(config):
    return copy.deepcopy(_load_once(config))


def _mkd_node(cfg):
    (node,) = [n for n in cfg.model.distill_losses if n._target_ is MKDLoss]
    return node


def test_config_names_and_output_dirs():
    assert len(MKD_CONFIGS) >= 13
    outputs = set()
    for config in MKD_CONFIGS:
        assert re.fullmatch(r"mkd_R\d+(w\d+)?_to_R\d+_(retinanet|faster_rcnn|mask_rcnn)(_\w+)?\.py", os.path.basename(config))
        cfg = _load(config)
        assert cfg.train.output_dir not in outputs, config
        outputs.add(cfg.train.output_dir)
        assert cfg.model._target_ is DistillationDetector


def _teacher_config_outputs():
    outputs = {}
    for config in TEACHER_CONFIGS:
        cfg = _load(config)
        if "train" in cfg and "model" in cfg and cfg.model._target_ is not DistillationDetector:
            outputs[os.path.normpath(cfg.train.output_dir)] = config
    return outputs


def test_every_teacher_checkpoint_comes_from_a_training_config_here():
    trained_by = _teacher_config_outputs()
    for config in MKD_CONFIGS:
        teacher = _load(config).model.teachers
        folder = os.path.normpath(os.path.dirname(teacher.weights))
        assert folder.startswith("output/teachers/"), (config, teacher.weights)
        assert folder in trained_by, f"{config}: no config trains {teacher.weights}"
        teacher_cfg = _load(trained_by[folder])
        # the teacher model of the distillation config is the one that config trains
        assert OmegaConf.to_yaml(teacher_cfg.model) == OmegaConf.to_yaml(teacher.model), config


def test_min_input_size_kernels_and_levels_fit_the_data():
    for config in MKD_CONFIGS:
        cfg = _load(config)
        smallest = min(cfg.dataloader.train.mapper.augmentations[0].short_edge_length)
        assert cfg.model.min_input_size == smallest, config
        loss = _mkd_node(cfg)
        strides = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64, "p7": 128}
        for level in loss.in_features:
            assert max(loss.kernels) <= math.ceil(smallest / strides[level]), (config, level)


def test_main_config_has_the_paper_settings():
    loss = instantiate(_mkd_node(_load(MAIN)))
    assert loss.enabled_terms == ["fea", "multiscale", "fdmd", "fad"]
    assert loss.weight == 1.0 and set(loss.term_weights.values()) == {1.0}
    assert loss.terms["fdmd"].zeta == 0.5 and loss.terms["fdmd"].use_generator
    assert loss.terms["multiscale"].kernels == (1, 2, 4) and loss.terms["fad"].tau == 1.0
    # FDMD generators work at the teacher's FPN width (interpolated from the teacher config)
    assert loss.terms["fdmd"].generators["p3"][0].in_channels == _load(MAIN).model.teachers.model.backbone.out_channels == 64


@pytest.mark.parametrize("term", ["multiscale", "fdmd", "fad"])
def test_table4_ablations_switch_off_one_term(term):
    cfg = _load(f"projects/MKD/configs/Shapes/mkd_R50_to_R18_retinanet_no_{term}.py")
    loss = instantiate(_mkd_node(cfg))
    assert loss.enabled_terms == [t for t in ("fea", "multiscale", "fdmd", "fad") if t != term]
    main = _load(MAIN)
    main_node = _mkd_node(main)
    main_node[f"use_{term}"] = False
    assert OmegaConf.to_yaml(cfg.model) == OmegaConf.to_yaml(main.model)  # nothing else differs


@pytest.mark.parametrize("suffix, alpha", [("_alpha0p1", 0.1), ("", 1.0), ("_alpha5", 5.0)])
def test_table5_alpha_sweep(suffix, alpha):
    cfg = _load(f"projects/MKD/configs/Shapes/mkd_R50_to_R18_retinanet{suffix}.py")
    assert instantiate(_mkd_node(cfg)).weight == alpha


def test_table3_teachers_differ_in_size_only():
    small = _load("projects/MKD/configs/Shapes/mkd_R34_to_R18_retinanet.py").model.teachers.model
    big = _load(MAIN).model.teachers.model
    assert (small.backbone.bottom_up.stages.depth, big.backbone.bottom_up.stages.depth) == (34, 50)
    small.backbone.bottom_up.stages.depth = 50
    assert OmegaConf.to_yaml(small) == OmegaConf.to_yaml(big)


def test_table2_mask_rcnn_config_loads_masks_and_evaluates_segm():
    cfg = _load(MASK)
    assert cfg.dataloader.train.mapper.use_instance_mask
    assert list(cfg.dataloader.evaluator.tasks) == ["bbox", "segm"]
    assert cfg.model.student.roi_heads.mask_head is not None
    # the detection teacher of the Faster R-CNN run: MKD distils FPN features only
    assert "mask_head" not in cfg.model.teachers.model.roi_heads
    assert cfg.model.teachers.weights == "output/teachers/faster_rcnn_R18w64_FPN/model_final.pth"
    coco = _load("projects/MKD/configs/COCO/mkd_R101_to_R50_mask_rcnn.py")
    assert coco.dataloader.train.mapper.use_instance_mask
    assert coco.dataloader.train.dataset.names == "coco_2017_train"
    assert coco.model.teachers.model.backbone.bottom_up.stages.depth == 101
    assert coco.model.student.backbone.bottom_up.stages.depth == 50


# ------------------------------------------------------------ the real tool, end to end


def _tiny_overrides(extra_student=()):
    return (
        TINY_DATA
        + shrink_model("model.student")
        + shrink_model("model.teachers.model")
        + list(extra_student)
        + [
            "model.min_input_size=96",  # TINY_DATA's smallest short edge
            "model.distill_losses.0.kernels=[1,2]",  # p5 is 3x3 at 96 px
            # an untrained teacher's eval-mode features are large (MSE ~ 1e3); at weight 1
            # (the paper's alpha) two SGD steps would wreck the student and leave AP undefined (NaN)
            "model.distill_losses.0.weight=1e-4",
        ]
    )


def _write_teacher(config, overrides, path):
    cfg = apply_overrides_strictly(_load(config), overrides)
    torch.manual_seed(0)
    return save_checkpoint(instantiate(cfg.model.teachers.model), path)


def _run(config, tmp_path, env, extra_student):
    overrides = _tiny_overrides(extra_student)
    weights = _write_teacher(config, overrides, tmp_path / "teacher.pth")
    out = tmp_path / "run"
    run_tool(
        "lazyconfig_train_net.py", "--config-file", config, *overrides,
        "train.max_iter=2", "train.eval_period=2", "train.log_period=1",
        f"model.teachers.weights={weights}", f"train.output_dir={out}", env=env,
    )
    return out, overrides, weights


@pytest.fixture(scope="module")
def datasets_env(tmp_path_factory):
    return {"D2KD_DATASETS": str(tmp_path_factory.mktemp("datasets"))}


@pytest.fixture(scope="module")
def retinanet_run(tmp_path_factory, datasets_env):
    # a barely trained RetinaNet keeps low-score boxes, so that AP is a number
    return _run(MAIN, tmp_path_factory.mktemp("mkd"), datasets_env, ["+model.student.test_score_thresh=0.0"])


def _train_and_eval_records(out):
    records = read_metrics(out)
    return [r for r in records if "total_loss" in r], [r for r in records if "bbox/AP" in r]


def test_main_config_trains_and_reports_bbox_ap(retinanet_run):
    out, _, _ = retinanet_run
    train_records, evals = _train_and_eval_records(out)
    assert [r["iteration"] for r in train_records] == [0, 1]
    expected = {f"loss_mkd_{t}_{lvl}" for t in ("fea", "multiscale", "fdmd", "fad") for lvl in ("p3", "p4", "p5")}
    assert expected <= set(train_records[0])
    assert all(math.isfinite(train_records[-1][k]) for k in expected | {"loss_cls", "loss_box_reg"})
    assert len(evals) == 1
    assert {"bbox/AP", "bbox/AP50", "bbox/AP75", "bbox/APs", "bbox/APm", "bbox/APl"} <= set(evals[0])
    assert 0.0 <= evals[0]["bbox/AP50"] <= 100.0
    assert (out / "model_final.pth").exists()


def test_mask_rcnn_config_trains_and_reports_bbox_and_segm_ap(tmp_path, datasets_env):
    out, _, _ = _run(
        MASK, tmp_path, datasets_env, ["model.student.roi_heads.box_predictor.test_score_thresh=0.0"]
    )
    train_records, evals = _train_and_eval_records(out)
    assert {"loss_mask", "loss_mkd_fdmd_p2", "loss_mkd_fad_p5"} <= set(train_records[-1])
    assert len(evals) == 1
    assert {"bbox/AP", "segm/AP", "segm/AP50", "segm/APs"} <= set(evals[0])
    assert 0.0 <= evals[0]["segm/AP50"] <= 100.0


def test_pictures_of_the_run(retinanet_run, datasets_env, tmp_path):
    """tools/plot_losses.py and tools/visualize_features.py on the run's real outputs."""
    from PIL import Image

    out, overrides, teacher_weights = retinanet_run
    plot = load_tool("plot_losses").main([str(out / "metrics.json"), "--output", str(tmp_path / "losses.png")])
    with Image.open(plot) as image:
        assert image.size == (1280, 440)  # two 6.4 x 4.4 inch panels at 100 dpi

    cfg = apply_overrides_strictly(_load(MAIN), overrides)
    plain = save_checkpoint(instantiate(cfg.model.student), tmp_path / "plain_student.pth")
    image_file = os.path.join(datasets_env["D2KD_DATASETS"], "tiny", "val", "images", "000000.jpg")
    written = load_tool("visualize_features").main(
        [
            "--config-file", MAIN,
            "--student", f"student={plain}",
            "--student", f"MKD student={out / 'model_final.pth'}",
            "--image", image_file,
            "--frequency-mask",
            "--output-dir", str(tmp_path / "pictures"),
            *overrides,
            f"model.teachers.weights={teacher_weights}",
        ]
    )
    assert [os.path.basename(p) for p in written] == ["features.png", "frequency_mask.png"]
    with Image.open(written[0]) as image:
        assert image.size == (1040, 820)  # the input, then 3 levels x (teacher, student, MKD student)
        assert len(set(image.convert("L").getdata())) > 50  # not a blank canvas
    with Image.open(written[1]) as image:
        assert image.size == (1680, 350)  # the input and 5 panels
