"""DistillationDetector, Teacher, feature pairing: the invariants the core promises (README.md, "Decisions the papers leave open")."""
import copy
import functools

import pytest
import torch
from conftest import calibrate_batchnorm, build_tiny_faster_rcnn, build_tiny_retinanet, save_checkpoint, synthetic_batch
from detectron2.modeling.backbone import FPN
from detectron2.modeling.backbone.fpn import LastLevelMaxPool

from d2kd.losses import FitNetLoss, MGDLoss
from d2kd.losses.base import DistillContext, DistillLoss
from d2kd.modeling.backbone import TimmBackbone
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
    # the message names the first five mis-shaped keys (sorted) with both shapes, and counts the rest
    file_state, model_state = torch.load(path)["model"], build_tiny_retinanet(fpn_channels=24).state_dict()
    wrong = sorted(k for k in file_state if file_state[k].shape != model_state[k].shape)
    assert len(wrong) > 5
    for key in wrong[:5]:
        shapes = f"file {tuple(file_state[key].shape)} vs model {tuple(model_state[key].shape)}"
        assert f"{key}: {shapes}" in str(err.value), key
    assert f"{wrong[5]}: " not in str(err.value)
    assert f"{len(wrong)} with another shape" in str(err.value)
    assert f"(+{len(wrong) - 5} more)" in str(err.value)
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


def test_adapters_always_puts_a_trained_1x1_conv_at_every_level(tmp_path):
    teacher, _ = make_teacher(tmp_path, base_width=16, fpn_channels=16)  # the student's width
    loss = SquaredError(in_features=["p3", "p4"])
    needed = DistillationDetector(student=build_tiny_retinanet(), teachers=teacher, distill_losses=[loss])
    assert len(needed.adapters["teacher"]) == 0  # equal channels: compared as they are
    model = DistillationDetector(
        student=build_tiny_retinanet(), teachers=teacher, distill_losses=[loss], adapters="always"
    )
    adapters = model.adapters["teacher"]
    assert set(adapters) == {"p3", "p4"} and all(a.weight.shape == (16, 16, 1, 1) for a in adapters.values())
    model.train()
    with EventStorage():
        losses = model(synthetic_batch(seed=0))
    sum(losses.values()).backward()
    assert all(a.weight.grad.abs().sum() > 0 for a in adapters.values())
    assert {k.split(".")[0] for k in model.state_dict()} == {"student", "adapters"}
    with pytest.raises(ValueError, match=r"adapters must be one of \('needed', 'always'\), got 'some'"):
        DistillationDetector(student=build_tiny_retinanet(), teachers=teacher, distill_losses=[loss], adapters="some")


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


# ---- a timm teacher (ConvNeXt, Swin) teaching a ResNet student -------------------------

# CPU-sized timm bodies, configured as in configs/common/models/backbones.py (swin_nano_fpn,
# at half its width); random weights, written to a file and loaded back by Teacher.
TIMM_TEACHERS = {
    "convnext_atto": {},
    "swin_tiny_patch4_window7_224": dict(
        strict_img_size=False, embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8),
        window_size=7, drop_path_rate=0.0,
    ),
}


def build_timm_faster_rcnn(model_name, model_kwargs, fpn_channels=32):
    """Faster R-CNN (p2-p6) whose FPN reads res2-res5 of a timm model; heads of width fpn_channels."""
    model = build_tiny_faster_rcnn(fpn_channels=fpn_channels)
    torch.manual_seed(1)
    stages = ["res2", "res3", "res4", "res5"]
    model.backbone = FPN(
        bottom_up=TimmBackbone(model_name, out_features=stages, model_kwargs=dict(model_kwargs)),
        in_features=stages,
        out_channels=fpn_channels,
        top_block=LastLevelMaxPool(),
    )
    return model


@pytest.mark.parametrize("model_name", sorted(TIMM_TEACHERS))
def test_timm_teacher_teaches_resnet_retinanet_student(tmp_path, model_name):
    builder = functools.partial(build_timm_faster_rcnn, model_name, TIMM_TEACHERS[model_name])
    teacher, trained = make_teacher(tmp_path, builder=builder)
    assert isinstance(teacher.model.backbone.bottom_up, TimmBackbone)
    assert {k: (s.stride, s.channels) for k, s in teacher.output_shape().items()} == {
        "p2": (4, 32), "p3": (8, 32), "p4": (16, 32), "p5": (32, 32), "p6": (64, 32)
    }
    saved = torch.load(tmp_path / "teacher.pth", weights_only=True)["model"]
    fitnet = FitNetLoss(in_features=["p5", "p6"], weight=2.0)
    mgd = MGDLoss(in_features=["p3", "p4"], channels=32, weight=1e-3, mask_ratio=0.5)
    student = build_tiny_retinanet()  # ResNet-18 (width 8), FPN p3-p7 of 16 channels
    model = DistillationDetector(student=student, teachers=teacher, distill_losses=[fitnet, mgd])
    # the student's p7 (stride 128) has no teacher level; p3-p6 pair by stride
    assert model._pairs["teacher"] == {"p3": "p3", "p4": "p4", "p5": "p5", "p6": "p6"}
    adapters = model.adapters["teacher"]
    assert set(adapters) == {"p3", "p4", "p5", "p6"}
    assert all(a.weight.shape == (32, 16, 1, 1) for a in adapters.values())  # 16 -> 32 channels
    assert {id(p) for p in teacher.parameters()}.isdisjoint(id(p) for p in model.parameters())

    model.train()
    assert not teacher.training and not teacher.model.backbone.bottom_up.training
    batch = synthetic_batch()
    torch.manual_seed(0)
    with EventStorage():
        losses = model(batch)
    assert set(losses) == {
        "loss_cls", "loss_box_reg",
        "loss_fitnet_p5", "loss_fitnet_p6", "loss_mgd_p3", "loss_mgd_p4",
    }
    assert all(torch.isfinite(v) and v > 0 for v in losses.values()), losses

    # FitNet's value, recomputed from independently computed features: the student backbone
    # (train mode: batch statistics, same output again), its adapter, and the teacher's
    # own preprocessing and backbone; 64 px images need no cropping
    with torch.no_grad():
        s_feats = student.backbone(student.preprocess_image(batch).tensor)
        t_feats = teacher.model.backbone(teacher.model.preprocess_image(batch).tensor)
        for level, size in (("p5", 2), ("p6", 1)):
            s, t = adapters[level](s_feats[level]), t_feats[level]
            assert s.shape == t.shape == (2, 32, size, size)
            expected = 2.0 * ((s - t) ** 2).mean()
            assert float(losses[f"loss_fitnet_{level}"]) == pytest.approx(float(expected), rel=1e-5)

    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    optimizer.zero_grad()
    sum(losses.values()).backward()
    assert student.backbone.bottom_up.stem.conv1.weight.grad.abs().sum() > 0
    assert student.backbone.fpn_lateral3.weight.grad.abs().sum() > 0
    for level in ("p3", "p4", "p5", "p6"):
        assert adapters[level].weight.grad.abs().sum() > 0, level
    for level in ("p3", "p4"):
        assert mgd.generators[level][0].weight.grad.abs().sum() > 0, level
        assert mgd.generators[level][2].weight.grad.abs().sum() > 0, level
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    optimizer.step()
    state = teacher.model.state_dict()
    assert set(state) == set(saved)
    for key, value in saved.items():
        assert torch.equal(state[key], value), f"teacher {key} changed"
    for key, value in trained.state_dict().items():
        assert torch.equal(value, saved[key]), key  # what was saved is what was loaded


# ---- bad input: a clear error at construction ------------------------------------------


def test_teacher_that_is_not_a_detectron2_model_is_a_type_error(tmp_path):
    path = save_checkpoint(build_tiny_retinanet(), tmp_path / "t.pth")
    # a bare backbone: it has output_shape() but no .backbone nor .preprocess_image
    bare_fpn = build_tiny_retinanet().backbone
    for model, name in ((bare_fpn, "FPN"), (torch.nn.Conv2d(3, 8, 3), "Conv2d")):
        with pytest.raises(TypeError) as err:
            Teacher(model=model, weights=path)
        message = str(err.value)
        assert "Detectron2 meta-arch" in message and ".backbone" in message, message
        assert ".preprocess_image" in message and f"got {name}" in message, message


def test_distiller_level_that_the_student_lacks_is_a_pairing_error(tmp_path):
    teacher, _ = make_teacher(tmp_path)  # RetinaNet teacher, p3-p7
    student = build_tiny_faster_rcnn()  # p2-p6: no p7
    with pytest.raises(PairingError) as err:
        DistillationDetector(
            student=student, teachers=teacher, distill_losses=[FitNetLoss(in_features=["p3", "p7"])]
        )
    message = str(err.value)
    assert message.startswith("Level 'p7' is not a student feature"), message
    # it lists what the student has, with strides and channels, and names the fix
    for level, stride in (("p2", 4), ("p3", 8), ("p4", 16), ("p5", 32), ("p6", 64)):
        assert f"{level} (stride {stride}, 16 ch)" in message, message
    assert "Fix the loss's in_features" in message


def test_teacher_weights_with_other_keys_name_them(tmp_path):
    state = build_tiny_retinanet().state_dict()
    dropped = sorted(state)[:2]
    for key in dropped:
        del state[key]
    state["head.extra_conv.weight"] = torch.zeros(1)
    path = tmp_path / "renamed.pth"
    torch.save({"model": state}, path)
    with pytest.raises(WeightsError) as err:
        Teacher(model=build_tiny_retinanet(), weights=str(path))
    message = str(err.value)
    assert str(path) in message
    assert f"2 missing: {dropped[0]}, {dropped[1]};" in message, message
    assert "1 unexpected: head.extra_conv.weight." in message, message
