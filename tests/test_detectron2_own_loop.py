"""The configs run under detectron2's own training loop, not only under d2kd's tool: what
detectron2's tools/lazyconfig_train_net.py does with a config (instantiate the model and move
it to ``train.device``, the optimizer with ``params.model``, the train loader, a
SimpleTrainer), written here with detectron2's public API alone."""
import os

import pytest
import torch

from d2kd.config import load_tool_config
from detectron2.config import instantiate
from detectron2.engine import SimpleTrainer
from detectron2.utils.events import EventStorage
from tool_runs import ROOT, TINY_DATA, shrink_model

PLAIN = "configs/Shapes/faster_rcnn_R18_FPN.py"
MKD = "projects/MKD/configs/Shapes/mkd_R18w64_to_R18_faster_rcnn.py"


def test_train_device_is_a_device_detectron2_understands():
    cfg = load_tool_config(os.path.join(ROOT, PLAIN))
    assert cfg.train.device == ("cuda" if torch.cuda.is_available() else "cpu")
    torch.device(cfg.train.device)  # detectron2's tool calls model.to(cfg.train.device)


@pytest.mark.parametrize("config", [PLAIN, MKD])
def test_config_trains_in_detectron2s_own_loop(config, tmp_path):
    overrides = [*TINY_DATA, *shrink_model("model.student" if config == MKD else "model")]
    if config == MKD:
        overrides += [*shrink_model("model.teachers.model"), "model.min_input_size=96",
                      "model.distill_losses.0.kernels=[1,2]"]
    cfg = load_tool_config(os.path.join(ROOT, config), overrides)
    if config == MKD:
        cfg.model.teachers.weights = str(tmp_path / "teacher.pth")
        torch.save({"model": instantiate(cfg.model.teachers.model).state_dict()}, cfg.model.teachers.weights)
    model = instantiate(cfg.model)
    model.to(cfg.train.device)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    trainer = SimpleTrainer(model, instantiate(cfg.dataloader.train), optimizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}  # the student's (teachers are not in it)
    teachers = getattr(model, "_teachers", {})
    teacher_before = {n: {k: v.clone() for k, v in t.model.state_dict().items()} for n, t in teachers.items()}
    with EventStorage() as storage:
        trainer.storage = storage
        for trainer.iter in range(2):
            trainer.run_step()
            storage.step()
    latest = storage.latest()
    assert torch.isfinite(torch.tensor(latest["total_loss"][0]))
    if config == MKD:
        assert any(k.startswith("loss_mkd_") for k in latest)
        assert teacher_before and all(  # the teacher stays frozen
            torch.equal(value, teachers[n].model.state_dict()[k])
            for n, state in teacher_before.items() for k, value in state.items())
    student = [k for k in before if before[k].is_floating_point()]
    assert any(not torch.equal(before[k], model.state_dict()[k]) for k in student)  # it learned
