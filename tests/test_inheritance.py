"""Student modules initialised from a teacher (d2kd.modeling.inheritance)."""
import pytest
import torch

from d2kd.modeling import WeightsError
from d2kd.modeling.inheritance import check_inheritance, copy_inherited, select_inherited

TEACHER = {
    "backbone.fpn_lateral2.weight": torch.ones(4, 8, 1, 1),
    "backbone.fpn_output2.weight": torch.full((4, 4, 3, 3), 2.0),
    "backbone.fpn_output3.weight": torch.full((4, 4, 3, 3), 3.0),
    "proposal_generator.rpn_head.conv.weight": torch.full((4, 4, 3, 3), 5.0),
    "roi_heads.box_head.fc1.weight": torch.zeros(16, 196),
}


def test_patterns_select_whole_modules_by_path_and_glob():
    assert sorted(select_inherited(TEACHER, ["backbone.fpn_output*"])) == [
        "backbone.fpn_output2.weight", "backbone.fpn_output3.weight"]
    assert sorted(select_inherited(TEACHER, ["proposal_generator"])) == ["proposal_generator.rpn_head.conv.weight"]
    # a path prefix that is not a whole module name selects nothing
    with pytest.raises(WeightsError, match=r"'proposal' matches no module of the teacher; its modules are "
                                           r"backbone, proposal_generator, roi_heads"):
        select_inherited(TEACHER, ["proposal"])


def test_shapes_are_checked_and_the_copy_is_exact():
    student = torch.nn.Module()
    student.proposal_generator = torch.nn.Module()
    student.proposal_generator.rpn_head = torch.nn.Module()
    student.proposal_generator.rpn_head.conv = torch.nn.Conv2d(4, 4, 3, bias=False)
    student.roi_heads = torch.nn.Module()
    student.roi_heads.box_head = torch.nn.Module()
    student.roi_heads.box_head.fc1 = torch.nn.Linear(196, 8, bias=False)
    selected = select_inherited(TEACHER, ["proposal_generator"])
    check_inheritance(student.state_dict(), selected, ["proposal_generator"])
    assert copy_inherited(student, selected) == ["proposal_generator.rpn_head.conv.weight"]
    assert torch.equal(student.proposal_generator.rpn_head.conv.weight, torch.full((4, 4, 3, 3), 5.0))
    assert student.proposal_generator.rpn_head.conv.weight.requires_grad  # still a trainable parameter
    with pytest.raises(WeightsError, match=r"1 with another shape: roi_heads.box_head.fc1.weight: teacher "
                                           r"\(16, 196\) vs student \(8, 196\)"):
        check_inheritance(student.state_dict(), select_inherited(TEACHER, ["roi_heads"]), ["roi_heads"])
    with pytest.raises(WeightsError, match="2 not in the student: backbone.fpn_output2.weight"):
        check_inheritance(student.state_dict(), select_inherited(TEACHER, ["backbone.fpn_output*"]), ["x"])
