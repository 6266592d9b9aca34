"""DFMSD pieces on small hand-made tensors: the loss (eq. 5-8), Area(x) and the ME decision (eq. 4),
and the meta-arch's enhanced-view pass (gradients, FGSM, errors)."""
import math

import numpy as np
import pytest
import torch
from conftest import build_tiny_retinanet, calibrate_batchnorm, save_checkpoint, synthetic_batch
from torch import nn

from d2kd.losses.base import DistillContext
from d2kd.losses.feature import FitNetLoss
from d2kd.modeling.teacher import Teacher
from detectron2.utils.events import EventStorage
from dfmsd import (
    ENHANCED_VIEW,
    DFMSDDetector,
    DFMSDLoss,
    MaskingEnhancement,
    ProportionalCrop,
    box_area_ratio,
    enhanced_view,
)


def _context(enhanced=False):
    extras = {ENHANCED_VIEW: True} if enhanced else {}
    return DistillContext(strides={"p3": 8}, image_sizes=[(8, 16)], extras=extras)


def _identity_reconstructors(loss):
    """Replace SE + generator by the identity, so that losses are hand-computable."""
    for branch in loss.reconstructors.values():
        for level in list(branch.keys()):
            branch[level] = nn.Identity()
    return loss


# s = ones; t channel 0 = [3, 0], channel 1 = [1, 1]  (N=1, C=2, H=1, W=2)
S = {"p3": torch.ones(1, 2, 1, 2)}
T_ = {"p3": torch.tensor([[[[3.0, 0.0]], [[1.0, 1.0]]]])}


def test_dfmsd_loss_hand_computed():
    loss = _identity_reconstructors(
        DFMSDLoss(in_features=["p3"], channels=2, weight=2.0, beta=0.5, gamma=4.0)
    )
    out = loss(S, T_, _context())
    # spatial attention: mean_c t^2 = (5, 0.5) -> hide position 0: s*m = [[0, 1], [0, 1]]
    # sum (s*m - t)^2 = (3^2 + 1^2) + (1^2 + 0) = 11; times alpha = 2
    assert out["loss_dfmsd_spatial_p3"].item() == pytest.approx(22.0)
    # channel attention: mean_hw t = (1.5, 1.0) -> hide channel 0: sum = 3^2 + 0 + 0 + 0 = 9
    assert out["loss_dfmsd_channel_p3"].item() == pytest.approx(18.0)
    # SFA: s is constant -> s_hat = 0; t_hat channel 0 = (+-1/sqrt(2)), channel 1 = 0
    # mean((s_hat - t_hat)^2) / 2 = (0.5 + 0.5) / 4 / 2 = 0.125; times alpha * gamma = 8
    assert out["loss_dfmsd_sfa_p3"].item() == pytest.approx(1.0, rel=1e-5)
    assert set(out) == {"loss_dfmsd_spatial_p3", "loss_dfmsd_channel_p3", "loss_dfmsd_sfa_p3"}


def test_dfmsd_loss_enhanced_view_is_beta_weighted_reconstruction_only():
    loss = _identity_reconstructors(
        DFMSDLoss(in_features=["p3"], channels=2, weight=2.0, beta=0.5, gamma=4.0)
    )
    out = loss(S, T_, _context(enhanced=True))
    assert out == {
        "loss_dfmsd_me_spatial_p3": pytest.approx(11.0),
        "loss_dfmsd_me_channel_p3": pytest.approx(9.0),
    }


def test_dfmsd_loss_switches():
    no_sfa = DFMSDLoss(in_features=["p3"], channels=2, gamma=0.0)
    assert not any("sfa" in k for k in no_sfa(S, T_, _context()))
    no_me = DFMSDLoss(in_features=["p3"], channels=2, beta=0.0)
    assert no_me(S, T_, _context(enhanced=True)) == {}
    spatial_only = DFMSDLoss(in_features=["p3"], channels=2, branches=["spatial"], gamma=0.0)
    assert set(spatial_only(S, T_, _context())) == {"loss_dfmsd_spatial_p3"}
    # SFA levels are paired by the core even when they are not masking levels
    both = DFMSDLoss(in_features=["p3"], channels=2, sfa_features=["p4"])
    assert both.in_features == ["p3", "p4"] and both.sfa_features == ["p4"]
    assert set(both.reconstructors["spatial"].keys()) == {"p3"}


def test_dfmsd_loss_shares_generators_between_views():
    loss = DFMSDLoss(in_features=["p3"], channels=2, weight=1.0, beta=1.0, gamma=0.0)
    s = torch.randn(2, 2, 4, 4)
    t = torch.randn(2, 2, 4, 4)
    normal = loss({"p3": s}, {"p3": t}, _context())
    enhanced = loss({"p3": s}, {"p3": t}, _context(enhanced=True))
    # same features, beta = 1 -> the same values: one generator serves both views
    assert enhanced["loss_dfmsd_me_spatial_p3"].item() == pytest.approx(normal["loss_dfmsd_spatial_p3"].item())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(beta=-1.0), "beta"),
        (dict(gamma=-0.1), "gamma"),
        (dict(spatial_ratio=1.5), "spatial_ratio"),
        (dict(channel_ratio=-0.2), "channel_ratio"),
        (dict(mask_mode="topk"), "mask_mode"),
        (dict(sfa_features="p3"), "sfa_features"),
    ],
)
def test_dfmsd_loss_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DFMSDLoss(in_features=["p3"], channels=2, **kwargs)


def test_area_ratio_hand_computed():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], dtype=np.float32)
    assert box_area_ratio(boxes, 20, 20) == pytest.approx(0.5)  # a sum: the overlap counts twice
    assert box_area_ratio(np.array([[-5, -5, 5, 5]]), 20, 20) == pytest.approx(25 / 400)  # clipped
    assert box_area_ratio(np.zeros((0, 4)), 20, 20) == 0.0
    assert box_area_ratio(np.array([[0, 0, 40, 40], [0, 0, 20, 20]]), 20, 20) == pytest.approx(2.0)


def test_me_decision_around_lambda():
    me = MaskingEnhancement(area_threshold=0.5, noise_prob=1.0)
    rng = np.random.default_rng(0)
    assert me.decide(0.5, rng) == "crop"
    assert me.decide(0.5 + 1e-9, rng) == "crop"
    assert me.decide(0.5 - 1e-9, rng) == "noise"
    assert MaskingEnhancement(noise_prob=0.0).decide(0.1, rng) == "none"


def test_me_noise_rate_is_about_p():
    me = MaskingEnhancement(noise_prob=0.3)
    rng = np.random.default_rng(1)
    ops = [me.decide(0.2, rng) for _ in range(2000)]
    assert ops.count("noise") / len(ops) == pytest.approx(0.3, abs=0.04)
    assert set(ops) == {"noise", "none"}


def test_me_noise_statistics():
    me = MaskingEnhancement(noise_sigma=10.0)
    image = np.full((64, 64, 3), 128, dtype=np.uint8)
    noisy = me.add_noise(image, np.random.default_rng(0))
    assert noisy.dtype == np.float32 and noisy.shape == image.shape
    diff = noisy - 128.0
    assert abs(diff.mean()) < 0.5 and diff.std() == pytest.approx(10.0, rel=0.05)
    assert MaskingEnhancement(noise_sigma=0.0).add_noise(image, np.random.default_rng(0)).max() == 128


def test_amplitude_spectrum_and_pictures(tmp_path):
    from dfmsd.visualize import amplitude_spectrum, render_attention

    flat = amplitude_spectrum(torch.full((3, 4, 6), 2.0))
    assert flat.shape == (4, 6)
    assert flat[2, 3] == pytest.approx(math.log1p(2.0 * 24))  # the DC term, centred by fftshift
    assert np.allclose(np.delete(flat.ravel(), 2 * 6 + 3), 0.0)
    out = render_attention(torch.randn(8, 6, 6), str(tmp_path / "att.png"), spatial_ratio=0.25)
    assert (tmp_path / "att.png").stat().st_size > 1000 and out.endswith("att.png")


def test_the_attention_picture_shows_the_input_image_first():
    import matplotlib.pyplot as plt

    from dfmsd.visualize import attention_figure

    image = torch.zeros(3, 40, 48)
    image[0] = 200.0  # the blue channel of a BGR input
    fig = attention_figure(torch.randn(8, 5, 6), image=image)
    assert len(fig.axes) == 5  # input, teacher feature, A^s, keep-mask, A^c
    shown = np.asarray(fig.axes[0].get_images()[0].get_array())
    assert shown.shape == (40, 48, 3) and (shown[..., 2] == 200).all() and (shown[..., :2] == 0).all()  # as RGB
    assert fig.axes[1].get_images()[0].get_array().shape == (5, 6)  # the feature after it
    plt.close(fig)
    without = attention_figure(torch.randn(8, 5, 6))
    assert len(without.axes) == 4
    plt.close(without)


def test_proportional_crop_keeps_aspect_and_size():
    crop = ProportionalCrop(0.5, 0.5)
    transforms = crop.get_transform(40, 80, np.random.default_rng(0))
    cropper, resize = transforms.transforms
    assert (cropper.h, cropper.w) == (20, 40)
    assert (resize.new_h, resize.new_w) == (40, 80)
    image = np.random.default_rng(0).integers(0, 255, (40, 80, 3), dtype=np.uint8)
    assert transforms.apply_image(image).shape == (40, 80, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(area_threshold=1.2), "lambda"),
        (dict(area_threshold=-0.1), "lambda"),
        (dict(noise_prob=2.0), "noise_prob"),
        (dict(noise_sigma=-1.0), "noise_sigma"),
        (dict(crop_ratio=(0.9, 0.5)), "crop_ratio"),
        (dict(crop_ratio=(0.0, 0.5)), "crop_ratio"),
    ],
)
def test_me_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaskingEnhancement(**kwargs)


# ---- the meta-arch ------------------------------------------------------------------------


def _teacher(tmp_path, **kwargs):
    trained = build_tiny_retinanet(**kwargs)
    with torch.no_grad():
        for p in trained.parameters():
            p.mul_(1.01)
    calibrate_batchnorm(trained)
    return Teacher(model=build_tiny_retinanet(**kwargs), weights=save_checkpoint(trained, tmp_path / "t.pth"))


def _with_enhanced_view(batch, op="noise"):
    for x in batch:
        x["enhanced_image"] = (x["image"] + torch.randn_like(x["image"]) * 10).clamp(0, 255)
        x["enhanced_instances"] = x["instances"]
        x["enhancement"] = {"op": op, "area": 0.2}
    return batch


def _detector(tmp_path, **kwargs):
    teacher = _teacher(tmp_path, base_width=16, fpn_channels=24)
    loss = DFMSDLoss(in_features=["p3", "p4"], channels=24, weight=1e-3, beta=0.5, gamma=10.0)
    return DFMSDDetector(student=build_tiny_retinanet(), teachers=teacher, distill_losses=[loss], **kwargs)


def test_detector_enhanced_pass_trains_only_student_and_distillers(tmp_path):
    model = _detector(tmp_path, masking_enhancement=True).train()
    teacher = model.teachers["teacher"]
    with EventStorage() as storage:
        losses = model(_with_enhanced_view(synthetic_batch()))
        assert storage.latest()["dfmsd/me_noise"][0] == 1.0
    assert {"loss_dfmsd_me_spatial_p3", "loss_dfmsd_me_channel_p4", "loss_dfmsd_sfa_p3", "loss_cls"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    # the ME term reaches the student through the enhanced view's extra backbone pass
    stem = model.student.backbone.bottom_up.stem.conv1.weight
    (me_grad,) = torch.autograd.grad(losses["loss_dfmsd_me_spatial_p3"], stem, retain_graph=True)
    assert me_grad.abs().sum() > 0
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert model.student.backbone.bottom_up.stem.conv1.weight.grad.abs().sum() > 0
    assert model.adapters["teacher"]["p3"].weight.grad.abs().sum() > 0
    generator = model.distill_losses[0].reconstructors["spatial"]["p4"][1][0]
    assert generator.weight.grad.abs().sum() > 0


def test_detector_without_me_ignores_the_view_and_eval_is_the_student(tmp_path):
    model = _detector(tmp_path).train()
    with EventStorage():
        losses = model(_with_enhanced_view(synthetic_batch()))
    assert not any("_me_" in k for k in losses)
    model.eval()
    inputs = [{k: v for k, v in x.items() if k in ("image", "height", "width")} for x in synthetic_batch()]
    with torch.no_grad():
        assert len(model(inputs)) == 2


def test_detector_errors(tmp_path):
    model = _detector(tmp_path, masking_enhancement=True).train()
    with pytest.raises(KeyError, match="MaskingEnhancementMapper"):
        with EventStorage():
            model(synthetic_batch())
    teacher = _teacher(tmp_path)
    with pytest.raises(ValueError, match="supports_enhanced_view"):
        DFMSDDetector(
            student=build_tiny_retinanet(),
            teachers=teacher,
            distill_losses=[FitNetLoss(in_features=["p3"])],
            masking_enhancement=True,
        )
    with pytest.raises(ValueError, match="masking_enhancement=True"):
        DFMSDDetector(
            student=build_tiny_retinanet(),
            teachers=teacher,
            distill_losses=[DFMSDLoss(in_features=["p3"], channels=16)],
            adversarial_epsilon=2.0,
        )


def test_fgsm_step_moves_pixels_by_epsilon_and_increases_the_distance(tmp_path):
    model = _detector(tmp_path, masking_enhancement=True, adversarial_epsilon=4.0).train()
    view = enhanced_view(_with_enhanced_view(synthetic_batch()))
    for x in view:
        x["image"] = x["image"].clamp(20, 235)  # no clipping at 0 / 255
    adv = model.adversarial_view(view)
    for x, y in zip(view, adv):
        step = (y["image"] - x["image"]).abs()
        assert torch.allclose(step[step > 0], torch.full_like(step[step > 0], 4.0))
        assert (step > 0).float().mean() > 0.5
    model.student.backbone.eval()

    def distance(inputs):
        with torch.no_grad():
            feats = model.student.backbone(model.student.preprocess_image(inputs).tensor)
            return model.feature_distance(inputs, feats).item()

    assert distance(adv) > distance(view)
    # the probe leaves no gradient on the parameters
    assert all(p.grad is None for p in model.parameters())


def test_fgsm_is_wired_into_training(tmp_path):
    model = _detector(tmp_path, masking_enhancement=True, adversarial_epsilon=2.0).train()
    with EventStorage():
        losses = model(_with_enhanced_view(synthetic_batch()))
    assert math.isfinite(sum(v.item() for v in losses.values()))
    assert model.student.backbone.training
