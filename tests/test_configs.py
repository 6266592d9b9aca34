"""Every lazy config loads, builds its model on the CPU and saves (STYLE section 4)."""
import glob
import os

import pytest
import torch
from omegaconf import DictConfig, ListConfig

from d2kd.modeling.teacher import Teacher
from detectron2.config import LazyConfig, instantiate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(
    os.path.relpath(p, ROOT)
    for pattern in ("configs/**/*.py", "projects/*/configs/**/*.py")
    for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)
    if not os.path.basename(p).startswith("_")
)


def _teacher_nodes(node, path=""):
    """Yield (path, node) of every LazyCall(Teacher) in a config tree."""
    if isinstance(node, DictConfig):
        if node.get("_target_", None) in (Teacher, "d2kd.modeling.teacher.Teacher"):
            yield path, node
        for key in node.keys():
            yield from _teacher_nodes(node.get(key), f"{path}.{key}" if path else str(key))
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            yield from _teacher_nodes(item, f"{path}[{i}]")


def point_teachers_at_fresh_weights(cfg, tmp_path):
    """Teachers need a checkpoint: write one of a freshly built teacher model."""
    for i, (path, node) in enumerate(_teacher_nodes(cfg)):
        weights = tmp_path / f"teacher{i}.pth"
        torch.save({"model": instantiate(node.model).state_dict()}, weights)
        node.weights = str(weights)


def test_configs_are_found():
    assert any(c.startswith("configs/common/models") for c in CONFIGS)


@pytest.mark.parametrize("config", CONFIGS)
def test_config_loads_builds_and_saves(config, tmp_path):
    cfg = LazyConfig.load(os.path.join(ROOT, config))
    if "model" in cfg:
        point_teachers_at_fresh_weights(cfg.model, tmp_path)
        model = instantiate(cfg.model)
        assert sum(p.numel() for p in model.parameters()) > 0
    saved = tmp_path / "config.yaml"
    LazyConfig.save(cfg, str(saved))
    assert saved.exists() and not (tmp_path / "config.yaml.pkl").exists(), "config not YAML-serialisable"
    reloaded = LazyConfig.load(str(saved))
    assert set(reloaded.keys()) == set(cfg.keys())
