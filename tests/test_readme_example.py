"""The README's "Extending: a new loss" example runs and trains a step."""
import os
import re

import torch
from conftest import build_tiny_retinanet, calibrate_batchnorm, save_checkpoint, synthetic_batch

from d2kd.modeling import DistillationDetector, Teacher
from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme_example() -> str:
    text = open(README).read()
    match = re.search(r"<!-- example: custom-loss -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its custom-loss example"
    return match.group(1)


def test_custom_loss_example_trains(tmp_path):
    namespace = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)  # noqa: S102
    losses = [instantiate(c) for c in namespace["distill_losses"]]
    teacher_model = calibrate_batchnorm(build_tiny_retinanet())
    teacher = Teacher(model=build_tiny_retinanet(), weights=save_checkpoint(teacher_model, tmp_path / "t.pth"))
    model = DistillationDetector(student=build_tiny_retinanet(), teachers=teacher, distill_losses=losses)
    with EventStorage():
        out = model(synthetic_batch())
    assert {"loss_cosine_p3", "loss_cosine_p4", "loss_cosine_p5"} <= set(out)
    cosine = out["loss_cosine_p3"]
    assert 0 < cosine.item() <= 2 * 2.0  # weight 2 times (1 - cos) in [0, 2]
    cosine.backward()
    assert model.student.backbone.fpn_output3.weight.grad.abs().sum() > 0
