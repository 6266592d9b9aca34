"""Loss modules: keys, weights, gradients, masks, FGD masks, argument checks."""
import math

import pytest
import torch
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from torch import nn

from d2kd.losses import (
    AttentionGuidedMask,
    ChannelReweighting,
    CWDLoss,
    DistillContext,
    DualMaskingLoss,
    FeatureGenerator,
    FGDLoss,
    FitNetLoss,
    MGDLoss,
    PKDLoss,
    fgd_attention,
    foreground_background_masks,
)
from d2kd.losses import functional as LF

LEVELS = ["p3", "p4"]
STRIDES = {"p3": 8, "p4": 16}
C = 4


def _features(seed=0, n=2, c=C, sizes=((8, 8), (4, 4))):
    g = torch.Generator().manual_seed(seed)
    student, teacher = {}, {}
    for level, (h, w) in zip(LEVELS, sizes):
        student[level] = torch.randn(n, c, h, w, generator=g, requires_grad=True)
        # requires_grad=True proves that the modules detach the teacher
        teacher[level] = torch.randn(n, c, h, w, generator=g, requires_grad=True)
    return student, teacher


def _context(n=2, boxes=((4.0, 4.0, 40.0, 24.0),)):
    instances = []
    for _ in range(n):
        inst = Instances((64, 64))
        inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        inst.gt_classes = torch.zeros(len(inst.gt_boxes), dtype=torch.int64)
        instances.append(inst)
    return DistillContext(strides=dict(STRIDES), image_sizes=[(64, 64)] * n, instances=instances)


def _make(name, weight=1.0):
    if name == "fitnet":
        return FitNetLoss(in_features=LEVELS, weight=weight)
    if name == "pkd":
        return PKDLoss(in_features=LEVELS, weight=weight)
    if name == "cwd":
        return CWDLoss(in_features=LEVELS, weight=weight, tau=2.0)
    if name == "mgd":
        return MGDLoss(in_features=LEVELS, channels=C, weight=weight, mask_ratio=0.5)
    if name == "dmkd":
        return DualMaskingLoss(in_features=LEVELS, channels=C, weight=weight, reduction=2)
    if name == "fgd":
        unit = dict(alpha=1.0, beta=1.0, gamma=1.0, lambda_=1.0)
        return FGDLoss(in_features=LEVELS, channels=C, weight=weight, **unit)
    raise KeyError(name)


EXPECTED_KEYS = {
    "fitnet": {"loss_fitnet_p3", "loss_fitnet_p4"},
    "pkd": {"loss_pkd_p3", "loss_pkd_p4"},
    "cwd": {"loss_cwd_p3", "loss_cwd_p4"},
    "mgd": {"loss_mgd_p3", "loss_mgd_p4"},
    "dmkd": {f"loss_dmkd_{b}_{f}" for b in ("spatial", "channel") for f in LEVELS},
    "fgd": {"loss_fgd_p3", "loss_fgd_p4"},
}
ALL = sorted(EXPECTED_KEYS)


@pytest.mark.parametrize("name", ALL)
def test_keys_and_finite(name):
    student, teacher = _features()
    student["p5"] = torch.randn(2, C, 2, 2)  # levels outside in_features are ignored
    teacher["p5"] = torch.randn(2, C, 2, 2)
    losses = _make(name)(student, teacher, _context())
    assert set(losses) == EXPECTED_KEYS[name]
    for v in losses.values():
        assert v.dim() == 0 and torch.isfinite(v)


@pytest.mark.parametrize("name", ALL)
def test_weight_multiplies(name):
    student, teacher = _features()
    module = _make(name, weight=1.0)
    torch.manual_seed(0)
    base = module(student, teacher, _context())
    module.weight = 3.0
    torch.manual_seed(0)
    scaled = module(student, teacher, _context())
    for k in base:
        torch.testing.assert_close(scaled[k], 3.0 * base[k])


@pytest.mark.parametrize("name", ALL)
def test_gradients_reach_student_and_module_not_teacher(name):
    student, teacher = _features()
    module = _make(name)
    losses = module(student, teacher, _context())
    sum(losses.values()).backward()
    for level in LEVELS:
        assert student[level].grad is not None and student[level].grad.abs().sum() > 0
        assert teacher[level].grad is None
    params = list(module.parameters())
    assert all(p.grad is not None for p in params)
    if params:
        assert any(p.grad.abs().sum() > 0 for p in params)


def test_fitnet_pkd_cwd_values_match_functional():
    student, teacher = _features()
    ctx = _context()
    for module, fn in (
        (FitNetLoss(in_features=LEVELS, weight=2.0), LF.feature_mse),
        (PKDLoss(in_features=LEVELS, weight=2.0), LF.pkd_loss),
        (CWDLoss(in_features=LEVELS, weight=2.0, tau=1.0), LF.cwd_loss),
    ):
        losses = module(student, teacher, ctx)
        for level in LEVELS:
            expected = 2.0 * fn(student[level], teacher[level])
            torch.testing.assert_close(losses[module.loss_name(level)], expected)


def test_missing_level_is_a_clear_error():
    student, teacher = _features()
    del teacher["p4"]
    with pytest.raises(ValueError, match="p4.*teacher"):
        FitNetLoss(in_features=LEVELS)(student, teacher, _context())


# ---------------------------------------------------------------- building blocks
def test_feature_generator_and_se_shapes():
    x = torch.randn(2, 8, 5, 6)
    assert FeatureGenerator(8)(x).shape == x.shape
    assert FeatureGenerator(8, out_channels=3)(x).shape == (2, 3, 5, 6)
    gen = FeatureGenerator(8)
    assert [type(m) for m in gen] == [nn.Conv2d, nn.ReLU, nn.Conv2d]
    assert gen[0].kernel_size == (3, 3) and gen[2].kernel_size == (3, 3)
    se = ChannelReweighting(8, reduction=4)
    y = se(x)
    assert y.shape == x.shape
    # SE only rescales each channel by a factor in (0, 1)
    ratio = y / x
    per_channel = ratio.flatten(2)
    torch.testing.assert_close(per_channel, per_channel[..., :1].expand_as(per_channel))
    assert bool((per_channel > 0).all() and (per_channel < 1).all())


def _hidden_count(mask):
    return (mask == 0).flatten(1).sum(dim=1).tolist()


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.5, 0.65, 1.0])
@pytest.mark.parametrize("mode", ["attention", "sample", "random"])
def test_mask_counts_are_exact(ratio, mode):
    t = torch.randn(3, 6, 7, 5)
    gen = torch.Generator().manual_seed(0)
    spatial = AttentionGuidedMask(ratio, dim="spatial", mask_mode=mode)(t, generator=gen)
    assert spatial.shape == (3, 1, 7, 5)
    assert set(spatial.unique().tolist()) <= {0.0, 1.0}
    assert _hidden_count(spatial) == [round(ratio * 35)] * 3
    channel = AttentionGuidedMask(ratio, dim="channel", mask_mode=mode)(t, generator=gen)
    assert channel.shape == (3, 6, 1, 1)
    assert _hidden_count(channel) == [round(ratio * 6)] * 3


def test_attention_mask_hides_highest_attention():
    # spatial attention ranks positions by the mean of t^2 over channels
    energy = torch.tensor([[0.1, 5.0, 0.2], [3.0, 0.0, 4.0]])  # (H=2, W=3)
    t = energy.sqrt().expand(1, 2, 2, 3).clone()
    mask = AttentionGuidedMask(0.5, dim="spatial")(t)  # round(0.5 * 6) = 3 hidden
    expected = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    torch.testing.assert_close(mask[0, 0], expected)
    # channel attention ranks channels by their mean
    t = torch.tensor([0.5, -2.0, 3.0, 1.0]).view(1, 4, 1, 1).expand(1, 4, 2, 2).clone()
    mask = AttentionGuidedMask(0.5, dim="channel")(t)
    torch.testing.assert_close(mask.flatten(), torch.tensor([1.0, 1.0, 0.0, 0.0]))


def test_sample_mode_follows_attention_random_mode_is_uniform():
    # two positions: attention sigmoid(large) ~ 1 and sigmoid(0) = 0.5; one hidden
    t = torch.tensor([[[[10.0, 0.0]]]]).expand(4000, 1, 1, 2).clone()
    gen = torch.Generator().manual_seed(0)
    sampled = AttentionGuidedMask(0.5, mask_mode="sample")(t, generator=gen)
    freq_first = (sampled[:, 0, 0, 0] == 0).float().mean().item()
    assert freq_first == pytest.approx(1.0 / 1.5, abs=0.03)  # 1 / (1 + 0.5)
    uniform = AttentionGuidedMask(0.5, mask_mode="random")(t, generator=gen)
    assert (uniform[:, 0, 0, 0] == 0).float().mean().item() == pytest.approx(0.5, abs=0.03)


def _capture_inputs(module):
    seen = []
    module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    return seen


def test_dual_masking_hides_exact_counts_and_composes_blocks():
    student, teacher = _features(sizes=((7, 9), (3, 3)))
    loss = DualMaskingLoss(
        in_features=LEVELS,
        channels=C,
        weight=0.5,
        spatial_ratio=0.3,
        channel_ratio=0.75,
        reduction=2,
    )
    seen_s = _capture_inputs(loss.reconstructors["spatial"]["p3"])
    seen_c = _capture_inputs(loss.reconstructors["channel"]["p3"])
    out = loss(student, teacher, _context())
    hidden_positions = (seen_s[0].abs().sum(dim=1) == 0).flatten(1).sum(dim=1).tolist()
    assert hidden_positions == [round(0.3 * 63)] * 2
    hidden_channels = (seen_c[0].abs().flatten(2).sum(dim=2) == 0).sum(dim=1).tolist()
    assert hidden_channels == [round(0.75 * C)] * 2
    # the loss is masked_generation_loss with the branch's SE + generator, times weight
    s, t = student["p3"], teacher["p3"].detach()
    for branch in ("spatial", "channel"):
        mask = loss.masks[branch](t)
        expected = 0.5 * LF.masked_generation_loss(s, t, mask, loss.reconstructors[branch]["p3"])
        torch.testing.assert_close(out[f"loss_dmkd_{branch}_p3"], expected)
    assert isinstance(loss.reconstructors["spatial"]["p3"][0], ChannelReweighting)
    assert isinstance(loss.reconstructors["spatial"]["p3"][1], FeatureGenerator)


def test_dual_masking_single_branch():
    student, teacher = _features()
    loss = DualMaskingLoss(in_features=["p3"], channels=C, branches=("channel",), reduction=2)
    assert set(loss(student, teacher, _context())) == {"loss_dmkd_channel_p3"}


def test_mgd_mask_ratio():
    torch.manual_seed(0)
    n, h, w = 2, 40, 40
    s, t = torch.randn(n, C, h, w), torch.randn(n, C, h, w)
    for ratio in (0.0, 0.65, 1.0):
        loss = MGDLoss(in_features=["p3"], channels=C, mask_ratio=ratio)
        seen = _capture_inputs(loss.generators["p3"])
        loss({"p3": s}, {"p3": t}, _context(n))
        hidden = (seen[0].abs().sum(dim=1) == 0).float().mean().item()
        assert hidden == pytest.approx(ratio, abs=0.04)
    # with nothing hidden the loss is the generator's sum-reduced error
    loss = MGDLoss(in_features=["p3"], channels=C, weight=1.0, mask_ratio=0.0)
    expected = (loss.generators["p3"](s) - t).pow(2).sum() / n
    torch.testing.assert_close(loss({"p3": s}, {"p3": t}, _context(n))["loss_mgd_p3"], expected)


# ---------------------------------------------------------------- FGD
def test_fgd_masks_cover_exactly_the_scaled_boxes():
    boxes = [
        # stride 8 on a 4x4 map: (8,8,24,16) -> cells rows 1, cols 1..2 (2 cells)
        # and (0,0,8,8) -> cell (0,0)
        torch.tensor([[8.0, 8.0, 24.0, 16.0], [0.0, 0.0, 8.0, 8.0]]),
        # fractional box (4,4,12,20) -> (0.5,0.5,1.5,2.5): rows 0..2, cols 0..1 (6 cells);
        # the whole image (16 cells) overlaps it: the smaller box's 1/6 wins
        torch.tensor([[4.0, 4.0, 12.0, 20.0], [0.0, 0.0, 32.0, 32.0]]),
        torch.zeros((0, 4)),
    ]
    fg, bg = foreground_background_masks(boxes, stride=8, height=4, width=4)
    assert fg.shape == bg.shape == (3, 1, 4, 4)
    a = 1.0 / 6.0
    s = 1.0 / 16.0
    expected_fg = torch.tensor(
        [
            [[1.0, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
            [[a, a, s, s], [a, a, s, s], [a, a, s, s], [s, s, s, s]],
            [[0.0] * 4] * 4,
        ]
    )
    torch.testing.assert_close(fg[:, 0], expected_fg)
    b = 1.0 / 13.0  # 16 cells - 3 foreground cells
    expected_bg = torch.tensor(
        [
            [[0, b, b, b], [b, 0, 0, b], [b, b, b, b], [b, b, b, b]],
            [[0.0] * 4] * 4,
            [[1.0 / 16] * 4] * 4,
        ]
    )
    torch.testing.assert_close(bg[:, 0], expected_bg)


def test_fgd_masks_clip_to_the_map():
    fg, _ = foreground_background_masks([torch.tensor([[20.0, 20.0, 100.0, 100.0]])], 8, 4, 4)
    expected = torch.zeros(4, 4)
    expected[2:, 2:] = 0.25
    torch.testing.assert_close(fg[0, 0], expected)


def _naive_fgd_attention(x, temp):
    n, c, h, w = x.shape
    spatial, channel = [], []
    for ni in range(n):
        g = [
            [sum(abs(float(x[ni, ci, i, j])) for ci in range(c)) / c for j in range(w)]
            for i in range(h)
        ]
        z = sum(math.exp(v / temp) for row in g for v in row)
        spatial.append([[h * w * math.exp(v / temp) / z for v in row] for row in g])
        gc = [sum(abs(float(v)) for v in x[ni, ci].flatten()) / (h * w) for ci in range(c)]
        zc = sum(math.exp(v / temp) for v in gc)
        channel.append([c * math.exp(v / temp) / zc for v in gc])
    return spatial, channel


def test_fgd_terms_match_a_naive_implementation():
    n, c, h, w = 2, 3, 4, 4
    g = torch.Generator().manual_seed(3)
    s = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    t = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    box = ((8.0, 8.0, 24.0, 16.0),)  # stride 8: cells (1, 1), (1, 2), each 1/2
    fg_cells = {(1, 1): 0.5, (1, 2): 0.5}
    ctx = DistillContext(
        strides={"p3": 8}, image_sizes=[(32, 32)] * n, instances=_context(n, box).instances
    )
    temp = 0.5
    sp_t, ch_t = _naive_fgd_attention(t, temp)
    sp_s, ch_s = _naive_fgd_attention(s, temp)
    fg_sum = bg_sum = att_sum = 0.0
    for ni in range(n):
        for i in range(h):
            for j in range(w):
                for ci in range(c):
                    d2 = (float(s[ni, ci, i, j]) - float(t[ni, ci, i, j])) ** 2
                    wgt = d2 * sp_t[ni][i][j] * ch_t[ni][ci]
                    if (i, j) in fg_cells:
                        fg_sum += wgt * fg_cells[(i, j)]
                    else:
                        bg_sum += wgt / (h * w - len(fg_cells))
                att_sum += abs(sp_s[ni][i][j] - sp_t[ni][i][j])
        att_sum += sum(abs(a - b) for a, b in zip(ch_s[ni], ch_t[ni]))
    global_sum = float((s - t).pow(2).sum())  # context blocks start as the identity
    hand = {"fg": fg_sum / n, "bg": bg_sum / n, "attention": att_sum / n, "global": global_sum / n}

    weights = {"alpha": 2.0, "beta": 3.0, "gamma": 5.0, "lambda_": 7.0}
    loss = FGDLoss(in_features=["p3"], channels=c, weight=0.5, temperature=temp, **weights).double()
    out = loss({"p3": s}, {"p3": t}, ctx)["loss_fgd_p3"]
    expected = 0.5 * (
        2.0 * hand["fg"] + 3.0 * hand["bg"] + 5.0 * hand["attention"] + 7.0 * hand["global"]
    )
    assert out.item() == pytest.approx(expected, rel=1e-9)

    spatial, channel = fgd_attention(t, temp)
    torch.testing.assert_close(spatial[:, 0], torch.tensor(sp_t, dtype=torch.float64))
    torch.testing.assert_close(channel[:, :, 0, 0], torch.tensor(ch_t, dtype=torch.float64))


def test_fgd_diagnostics_go_to_event_storage_only():
    student, teacher = _features()
    loss = _make("fgd")
    out = loss(student, teacher, _context())  # no storage: no error
    assert all(k.startswith("loss_fgd_") for k in out)
    with EventStorage() as storage:
        out = loss(student, teacher, _context())
        logged = storage.latest()
    assert {"fgd/fg", "fgd/bg", "fgd/attention", "fgd/global"} <= set(logged)
    assert set(out) == EXPECTED_KEYS["fgd"]


def test_fgd_needs_instances_and_strides():
    student, teacher = _features()
    loss = _make("fgd")
    with pytest.raises(ValueError, match="instances"):
        loss(student, teacher, DistillContext(strides=dict(STRIDES), image_sizes=[(64, 64)] * 2))
    with pytest.raises(ValueError, match="stride"):
        loss(student, teacher, DistillContext(strides={"p3": 8}, image_sizes=[(64, 64)] * 2,
                                              instances=_context().instances))


# ---------------------------------------------------------------- argument checks
@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: FitNetLoss(in_features=[]), "in_features"),
        (lambda: FitNetLoss(in_features=["p3"], weight=-1.0), "weight"),
        (lambda: PKDLoss(in_features=["p3"], eps=-1.0), "eps"),
        (lambda: CWDLoss(in_features=["p3"], tau=0.0), "tau"),
        (lambda: MGDLoss(in_features=["p3"], channels=C, mask_ratio=1.5), "mask_ratio"),
        (lambda: MGDLoss(in_features=["p3"], channels=0), "channels"),
        (lambda: MGDLoss(in_features=["p3", "p4"], channels={"p3": 4}), "p4"),
        (lambda: DualMaskingLoss(in_features=["p3"], channels=C, mask_mode="topk"), "mask_mode"),
        (lambda: DualMaskingLoss(in_features=["p3"], channels=C, spatial_ratio=-0.1), "spatial"),
        (lambda: DualMaskingLoss(in_features=["p3"], channels=C, channel_ratio=2), "channel_ratio"),
        (lambda: DualMaskingLoss(in_features=["p3"], channels=C, branches=("depth",)), "branches"),
        (lambda: DualMaskingLoss(in_features=["p3"], channels=C, branches=()), "branches"),
        (lambda: DualMaskingLoss(in_features=["p3"], channels=C, tau=0), "tau"),
        (lambda: AttentionGuidedMask(0.5, dim="height"), "dim"),
        (lambda: AttentionGuidedMask(1.2), "ratio"),
        (lambda: FGDLoss(in_features=["p3"], channels=C, temperature=0.0), "temperature"),
        (lambda: FGDLoss(in_features=["p3"], channels=C, alpha=-1.0), "alpha"),
        (lambda: FGDLoss(in_features=["p3"], channels=C, lambda_=-1.0), "lambda_"),
        (lambda: ChannelReweighting(8, reduction=0), "reduction"),
        (lambda: FeatureGenerator(0), "channels"),
    ],
)
def test_bad_arguments_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_attention_mask_ranks_saturated_attention_without_ties():
    """Teacher features this large saturate the sigmoid to exactly 1.0 in float32;
    the mask must still hide the positions with the largest mean square."""
    import torch

    from d2kd.losses import AttentionGuidedMask
    from d2kd.losses import functional as LF

    t = torch.zeros(1, 2, 2, 3)
    t[0, :, 0, 0] = 10.0
    t[0, :, 1, 2] = 20.0
    t[0, :, 0, 1] = 30.0  # mean squares 100, 400, 900 at three positions
    assert torch.all(LF.spatial_attention(t)[0, 0][[0, 1, 0], [0, 2, 1]] == 1.0)
    keep = AttentionGuidedMask(ratio=2 / 6, dim="spatial", mask_mode="attention")(t)
    hidden = {(h, w) for h in range(2) for w in range(3) if keep[0, 0, h, w] == 0}
    assert hidden == {(0, 1), (1, 2)}
