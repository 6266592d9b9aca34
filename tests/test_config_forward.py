"""Every config under configs/Shapes/, configs/baselines/ and configs/sanity/ trains for one
step on the CPU.

Each config is loaded with LazyConfig, shrunk with command-line style overrides
(ResNet base width 8, or MobileNetV2 at width 0.35 without its ImageNet file, and a
16-channel FPN, for the student and the teacher), built
(distillation teachers load a checkpoint of the shrunk teacher model, written to
tmp_path), and run for one training forward on two synthetic 96x96 images inside
an EventStorage; the summed losses are backpropagated.
"""
import glob
import os

import pytest
import torch

from d2kd.config import apply_overrides_strictly
from d2kd.modeling import DistillationDetector, Teacher
from detectron2.config import LazyConfig, instantiate
from detectron2.structures import Boxes, Instances, PolygonMasks
from detectron2.utils.events import EventStorage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(
    os.path.relpath(p, ROOT)
    for folder in ("configs/Shapes", "configs/baselines", "configs/sanity")
    for p in glob.glob(os.path.join(ROOT, folder, "*.py"))
)
SIZE = 96


def shrink(prefix, model_cfg=None):
    """Overrides that make a configs/common/models detector tiny (as tests/tool_runs.py):
    ResNet base width 8, or, for the MobileNetV2 student, width 0.35 from scratch (the
    ImageNet file fits width 1.0 only; tests/test_backbones.py loads it)."""
    bottom_up = model_cfg.backbone.bottom_up if model_cfg is not None else {}
    if "width_mult" in bottom_up:
        narrow = [f"{prefix}.backbone.bottom_up.width_mult=0.35", f"{prefix}.backbone.bottom_up.weights_path=null"]
    else:
        narrow = [f"{prefix}.backbone.bottom_up.stages.base_width=8"]
    return narrow + [f"{prefix}.backbone.out_channels=16"]


# Configs that the generic overrides below do not fit: config -> extra overrides.
# (None so far: every config of these folders shrinks with shrink().)
EXTRA_OVERRIDES = {}


def overrides_for(cfg, config):
    if "teachers" in cfg.model:
        teachers = cfg.model.teachers
        prefixes = ["model.teachers"] if "_target_" in teachers else [f"model.teachers.{k}" for k in teachers]
        nodes = [teachers] if "_target_" in teachers else [teachers[k] for k in teachers]
        out = shrink("model.student", cfg.model.student) + [
            o for p, node in zip(prefixes, nodes) for o in shrink(f"{p}.model", node.model)]
        if cfg.model.get("min_input_size", None):
            out.append(f"model.min_input_size={SIZE}")  # the images below
    else:
        out = shrink("model", cfg.model)
    return out + EXTRA_OVERRIDES.get(config, [])


def teacher_nodes(model_cfg):
    teachers = model_cfg.get("teachers", None)
    if teachers is None:
        return []
    return [teachers] if "_target_" in teachers else [teachers[k] for k in teachers]


def synthetic_batch(masks, num_classes=6):
    """Two random 96x96 images on the 0-255 scale with two or three boxes each."""
    gen = torch.Generator().manual_seed(0)
    boxes_per_image = [
        [[6.0, 8.0, 40.0, 44.0], [30.0, 36.0, 88.0, 90.0]],
        [[50.0, 4.0, 92.0, 30.0], [10.0, 40.0, 34.0, 62.0], [60.0, 60.0, 70.0, 72.0]],
    ]
    batch = []
    for i, boxes in enumerate(boxes_per_image):
        instances = Instances((SIZE, SIZE))
        instances.gt_boxes = Boxes(torch.tensor(boxes))
        instances.gt_classes = torch.tensor([(i + j) % num_classes for j in range(len(boxes))])
        if masks:
            instances.gt_masks = PolygonMasks(
                [[[x0, y0, x1, y0, x1, y1, x0, y1]] for x0, y0, x1, y1 in boxes]
            )
        image = torch.randint(0, 256, (3, SIZE, SIZE), generator=gen).float()
        batch.append({"image": image, "instances": instances, "height": SIZE, "width": SIZE})
    return batch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny tensors: one thread is as fast, and does not fight the other jobs for the cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_configs_are_found():
    assert len([c for c in CONFIGS if c.startswith("configs/Shapes/")]) >= 5
    assert len([c for c in CONFIGS if c.startswith("configs/baselines/")]) >= 12
    assert set(EXTRA_OVERRIDES) <= set(CONFIGS)


@pytest.mark.parametrize("config", CONFIGS)
def test_config_trains_one_step(config, tmp_path):
    cfg = LazyConfig.load(os.path.join(ROOT, config))
    cfg = apply_overrides_strictly(cfg, overrides_for(cfg, config))
    for i, node in enumerate(teacher_nodes(cfg.model)):
        torch.manual_seed(i)
        path = tmp_path / f"teacher{i}.pth"
        torch.save({"model": instantiate(node.model).state_dict(), "iteration": 0}, path)
        node.weights = str(path)

    torch.manual_seed(0)
    model = instantiate(cfg.model)
    distilled = isinstance(model, DistillationDetector)
    assert distilled == bool(teacher_nodes(cfg.model)), "teachers only in distillation configs"
    student = model.student if distilled else model
    # the shrink reached every network
    bottom_up = student.backbone.bottom_up
    if hasattr(bottom_up, "stem"):
        assert bottom_up.stem.out_channels == 8
    else:  # MobileNetV2 at width 0.35: its first conv has 16 channels (32 at width 1.0)
        assert bottom_up.features[0][0].out_channels == 16 and bottom_up.weights_path is None
    assert {s.channels for s in student.backbone.output_shape().values()} == {16}
    if distilled:
        for teacher in model.teachers.values():
            assert isinstance(teacher, Teacher)
            assert {s.channels for s in teacher.output_shape().values()} == {16}
    model.train()

    masks = bool(cfg.dataloader.train.mapper.get("use_instance_mask", False))
    batch = synthetic_batch(masks=masks)
    with EventStorage():
        losses = model(batch)
        student_keys = set(student(batch)) if distilled else set(losses)
    assert losses and all(k.startswith("loss_") for k in losses), sorted(losses)
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), f"{key} = {value}"
    if masks:
        assert "loss_mask" in losses

    student_params = [p for p in student.parameters() if p.requires_grad]
    if distilled:
        distill_keys = set(losses) - student_keys
        assert distill_keys, f"no distillation loss among {sorted(losses)}"
        # the distillation terms alone already reach the student's backbone
        backbone = [p for p in student.backbone.parameters() if p.requires_grad]
        grads = torch.autograd.grad(
            sum(losses[k] for k in distill_keys), backbone, retain_graph=True, allow_unused=True
        )
        assert any(g is not None and g.abs().sum() > 0 for g in grads), distill_keys

    sum(losses.values()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student_params)
    assert all(p.grad is not None for p in student.backbone.parameters() if p.requires_grad)
    if distilled:
        for teacher in model.teachers.values():
            assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
            assert not teacher.training
