"""Gradient-balance diagnostics (d2kd.engine.diagnostics) on hand-computed gradients."""
import math

import pytest
import torch
from torch import nn

from d2kd.engine.diagnostics import gradient_diagnostics, loss_terms, student_parameter_groups, term_name


class _Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.bottom_up = nn.Module()
        self.bottom_up.w = nn.Parameter(torch.tensor([2.0, -1.0]))
        self.fpn_w = nn.Parameter(torch.tensor([0.5, 3.0]))


class _Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = _Backbone()
        self.head_w = nn.Parameter(torch.tensor([1.5]))
        self.frozen = nn.Parameter(torch.tensor([1.0]), requires_grad=False)


def test_parameter_groups_split_backbone_neck_heads_and_skip_frozen():
    student = _Student()
    groups = student_parameter_groups(student)
    assert list(groups) == ["backbone", "neck", "heads"]
    assert [p is student.backbone.bottom_up.w for p in groups["backbone"]] == [True]
    assert [p is student.backbone.fpn_w for p in groups["neck"]] == [True]
    assert [p is student.head_w for p in groups["heads"]] == [True]


def test_term_names_drop_the_level_and_terms_sum_levels():
    assert term_name("loss_fitnet_p3", ["p3", "p4"]) == "fitnet"
    assert term_name("loss_mkd_fea_p10", ["p1", "p10"]) == "mkd_fea"
    assert term_name("loss_cls", ["p3"]) == "cls"
    losses = {k: torch.tensor(v) for k, v in
              {"loss_cls": 1.0, "loss_box_reg": 2.0, "loss_fitnet_p2": 3.0, "loss_fitnet_p3": 4.0,
               "loss_mkd_fea_p2": 5.0}.items()}
    terms = loss_terms(losses, ["loss_cls", "loss_box_reg"], ["p2", "p3"])
    assert {k: float(v) for k, v in terms.items()} == {
        "detection": 3.0, "fitnet": 7.0, "mkd_fea": 5.0, "distill": 12.0}
    one = loss_terms({k: losses[k] for k in ("loss_cls", "loss_fitnet_p2")}, ["loss_cls"], ["p2"])
    assert list(one) == ["detection", "fitnet"]  # no "distill" twin of a single term
    with pytest.raises(KeyError, match="loss_box_reg"):
        loss_terms({"loss_cls": losses["loss_cls"]}, ["loss_cls", "loss_box_reg"], ["p2"])


def test_norms_ratios_and_cosines_are_the_hand_computed_ones():
    student = _Student()
    w1, w2, w3 = student.backbone.bottom_up.w, student.backbone.fpn_w, student.head_w
    # d(detection)/d(w1, w2, w3) = [1, 0], [0, 2], [3]; d(distill)/d(...) = [1, 1], [0, -1], 0
    detection = w1 @ torch.tensor([1.0, 0.0]) + w2 @ torch.tensor([0.0, 2.0]) + 3 * w3.sum()
    distill = w1 @ torch.tensor([1.0, 1.0]) - w2[1]
    out = gradient_diagnostics({"detection": detection, "fitnet": distill},
                               student_parameter_groups(student))
    expected = {
        "grad_norm/detection/backbone": 1.0, "grad_norm/detection/neck": 2.0, "grad_norm/detection/heads": 3.0,
        "grad_norm/fitnet/backbone": math.sqrt(2), "grad_norm/fitnet/neck": 1.0,
        "grad_norm/fitnet/heads": 0.0,
        "grad_ratio/fitnet/backbone": math.sqrt(2), "grad_ratio/fitnet/neck": 0.5,
        "grad_ratio/fitnet/heads": 0.0,
        "grad_cos/fitnet/backbone": 1 / math.sqrt(2), "grad_cos/fitnet/neck": -1.0,
    }
    assert set(out) == set(expected)  # no cosine with a zero gradient (heads)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-9), key
    assert all(p.grad is None for p in student.parameters())  # the step's .grad is untouched
    (detection + distill).backward()  # the graph was kept for the step's own backward
    assert torch.equal(w1.grad, torch.tensor([2.0, 1.0]))
