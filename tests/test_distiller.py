"""DistillationDetector, Teacher, feature pairing: the invariants of DESIGN section 3."""
import copy

import pytest
import torch
from conftest import calibrate_batchnorm, build_tiny_faster_rcnn, build_tiny_retinanet, save_checkpoint, synthetic_batch

from d2kd.losses.base import DistillContext, DistillLoss
from d2kd.modeling.checkpoint import WeightsError
from d2kd.modeling.distiller import DistillationDetector
from d2kd.modeling.matching import PairingError, crop_to_common
from d2kd.modeling.recorder import ForwardRecorder
from d2kd.modeling.teacher import Teacher
from detectron2.utils.events import EventStorage


class SquaredError(DistillLoss):
    """Mean squared feature difference per level; records what it was given."""

    method = "sq"

    def forward(self, student, teacher, context):
        self.seen = {k: (student[k].shape, teacher[k].shape) for k in self.in_features}
        self.context = context
        return {
            self.loss_name(k): self.weight * ((student[k] - teacher[k]) ** 2).mean()
            for k in self.in_features
        }


def make_teacher(tmp_path, builder=build_tiny_retinanet, name="teacher.pth", **kwargs):
    trained = builder(**kwargs)
    with torch.no_grad():  # make the teacher differ from a fresh init
        for p in trained.parameters():
            p.mul_(1.01)
    calibrate_batchnorm(trained)
    path = save_checkpoint(trained, tmp_path / name)
    return Teacher(model=builder(**kwargs), weights=path), trained


def test_teacher_loads_weights_and_stays_frozen(tmp_path):
    teacher, trained = make_teacher(tmp_path)
    for key, value in trained.state_dict().items():
        assert torch.equal(teacher.model.state_dict()[key], value), key
    teacher.train()
    assert not teacher.training and not teacher.model.training
    assert not any(p.requires_grad for p in teacher.parameters())


def test_missing_or_mismatched_teacher_weights_are_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        Teacher(model=build_tiny_retinanet(), weights=str(tmp_path / "nope.pth"))
    path = save_checkpoint(build_tiny_retinanet(fpn_channels=16), tmp_path / "t.pth")
    with pytest.raises(WeightsError, match="another shape") as err:
        Teacher(model=build_tiny_retinanet(fpn_channels=24), weights=path)
    assert "allow_partial_weights=True" in str(err.value)
    partial = Teacher(model=build_tiny_retinanet(fpn_channels=24), weights=path, allow_partial_weights=True)
    stem = "backbone.bottom_up.stem.conv1.weight"
    assert torch.equal(partial.model.state_dict()[stem], torch.load(path)["model"][stem])


def test_distillation_step_trains_student_only(tmp_path):
    teacher, _ = make_teacher(tmp_path, base_width=16, fpn_channels=24)
    loss = SquaredError(in_features=["p3", "p4"], weight=2.0)
    model = DistillationDetector(student=build_tiny_retinanet(), teachers=teacher, distill_losses=[loss])
    model.train()
    assert not teacher.training
    teacher_params = {id(p) for p in teacher.parameters()}
    assert teacher_params.isdisjoint(id(p) for p in model.parameters())
    assert not any(k.startswith("teacher") or "._teachers" in k for k in model.state_dict())
    assert set(model.adapters["teacher"].keys()) == {"p3", "p4"}  # 16 -> 24 channels
    before = copy.deepcopy(teacher.model.state_dict())

    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    for step in range(2):
        with EventStorage():
            losses = model(synthetic_batch(seed=step))
        assert {"loss_cls", "loss_box_reg", "loss_sq_p3", "loss_sq_p4"} == set(losses)
        assert all(torch.isfinite(v) for v in losses.values()), losses
        optimizer.zero_grad()
        sum(losses.values()).backward()
        assert model.adapters["teacher"]["p3"].weight.grad is not None
        assert model.student.backbone.bottom_up.stem.conv1.weight.grad.abs().sum() > 0
        assert all(p.grad is None for p in teacher.parameters())
        optimizer.step()
    for key, value in teacher.model.state_dict().items():
        assert torch.equal(before[key], value), f"teacher {key} changed"
    # the loss saw same-shaped, paired maps and the batch's boxes in tensor coordinates
    assert loss.seen["p3"][0] == loss.seen["p3"][1] == torch.Size([2, 24, 8, 8])
    assert loss.context.strides["p3"] == 8
    assert loss.context.image_sizes == [(64, 64), (64, 64)]
    assert torch.equal(loss.context.instances[0].gt_boxes.tensor[0], torch.tensor([4.0, 6.0, 30.0, 34.0]))


def test_student_backbone_runs_once_and_hooks_are_removed(tmp_path):
    teacher, _ = make_teacher(tmp_path)
    model = DistillationDetector(
        student=build_tiny_retinanet(), teachers=teacher, distill_losses=[SquaredError(in_features=["p3"])]
    )
    calls = []
    handle = model.student.backbone.register_forward_hook(lambda *a: calls.append(1))
    with EventStorage():
        model(synthetic_batch())
    handle.remove()
    assert len(calls) == 1
    assert not model.student.backbone._forward_hooks and not model.student.backbone._forward_pre_hooks


def test_recorder_removes_hooks_when_forward_raises():
    module = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError):
        with ForwardRecorder(module) as rec:
            module(torch.zeros(1, 2))
            raise RuntimeError("boom")
    assert rec.calls == 1 and rec.output.shape == (1, 2)
    assert not module._forward_hooks and not module._forward_pre_hooks


def test_inference_is_the_bare_student(tmp_path):
    teacher, _ = make_teacher(tmp_path)
    student = build_tiny_retinanet()
    bare = copy.deepcopy(student).eval()
    model = DistillationDetector(
        student=student, teachers=teacher, distill_losses=[SquaredError(in_features=["p3"])]
    ).eval()
    inputs = [{k: v for k, v in x.items() if k != "instances"} for x in synthetic_batch()]
    with torch.no_grad():
        ours, theirs = model(inputs), bare(inputs)
    assert len(ours) == 2
    for a, b in zip(ours, theirs):
        assert torch.equal(a["instances"].pred_boxes.tensor, b["instances"].pred_boxes.tensor)
        assert torch.equal(a["instances"].scores, b["instances"].scores)


def test_faster_rcnn_teacher_teaches_retinanet_student_on_shared_strides(tmp_path):
    teacher, _ = make_teacher(tmp_path, builder=build_tiny_faster_rcnn)
    loss = SquaredError(in_features=["p3", "p4", "p5", "p6"])
    model = DistillationDetector(student=build_tiny_retinanet(), teachers=teacher, distill_losses=[loss])
    assert model._pairs["teacher"] == {"p3": "p3", "p4": "p4", "p5": "p5", "p6": "p6"}
    with EventStorage():
        losses = model(synthetic_batch(size=(60, 60)))
    # the student (p7, stride 128) pads 60 -> 128 px, the teacher (p6) 60 -> 64 px:
    # both p3 maps are cropped to the teacher's 8 x 8 extent
    assert {"loss_sq_p3", "loss_sq_p6"} <= set(losses)
    assert loss.seen["p3"] == (torch.Size([2, 16, 8, 8]), torch.Size([2, 16, 8, 8]))
    with pytest.raises(PairingError, match="stride 128"):
        DistillationDetector(
            student=build_tiny_retinanet(), teachers=teacher, distill_losses=[SquaredError(in_features=["p7"])]
        )


def test_retinanet_teacher_teaches_mask_rcnn_student(tmp_path):
    teacher, _ = make_teacher(tmp_path)
    model = DistillationDetector(
        student=build_tiny_faster_rcnn(mask=True),
        teachers=teacher,
        distill_losses=[SquaredError(in_features=["p3", "p6"])],
    )
    with EventStorage():
        losses = model(synthetic_batch(masks=True))
    assert {"loss_mask", "loss_sq_p3", "loss_sq_p6"} <= set(losses)


def test_crop_to_common_keeps_top_left():
    s = torch.arange(2 * 3 * 4 * 5, dtype=torch.float).reshape(2, 3, 4, 5)
    t = torch.zeros(2, 3, 3, 6)
    cs, ct = crop_to_common(s, t)
    assert cs.shape == ct.shape == (2, 3, 3, 5)
    assert torch.equal(cs, s[:, :, :3, :5])


def test_teacher_with_other_input_format_sees_flipped_channels(tmp_path):
    path = save_checkpoint(build_tiny_retinanet(input_format="RGB"), tmp_path / "rgb.pth")
    teacher = Teacher(model=build_tiny_retinanet(input_format="RGB"), weights=path)
    batch = synthetic_batch(num_images=1)
    features = teacher.features(batch, data_format="BGR")
    rgb = batch[0]["image"].flip(0)
    expected_input = (rgb - teacher.model.pixel_mean) / teacher.model.pixel_std
    with torch.no_grad():
        expected = teacher.model.backbone(expected_input[None])
    assert torch.allclose(features["p3"], expected["p3"])


def test_plain_student_checkpoint_loads_into_the_detector(tmp_path):
    teacher, _ = make_teacher(tmp_path)
    source = build_tiny_retinanet()
    with torch.no_grad():
        for p in source.parameters():
            p.mul_(0.5)
    model = DistillationDetector(
        student=build_tiny_retinanet(), teachers=teacher, distill_losses=[SquaredError(in_features=["p3"])]
    )
    incompatible = model.load_state_dict(source.state_dict(), strict=False)
    assert not [k for k in incompatible.missing_keys if k.startswith("student.")]
    for key, value in source.state_dict().items():
        assert torch.equal(model.student.state_dict()[key], value)


def test_unknown_teacher_name_is_an_error(tmp_path):
    teacher, _ = make_teacher(tmp_path)
    loss = SquaredError(in_features=["p3"])
    loss.teacher = "strong"
    with pytest.raises(ValueError, match="not one of the teachers"):
        DistillationDetector(student=build_tiny_retinanet(), teachers={"weak": teacher}, distill_losses=[loss])


def test_distill_context_defaults():
    context = DistillContext(strides={"p3": 8}, image_sizes=[(4, 4)])
    assert context.instances is None and context.extras == {}
