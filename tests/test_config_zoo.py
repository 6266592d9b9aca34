"""d2kd.config.zoo: project configs reach configs/ by name, with a fresh copy each time."""
import os

import pytest

from d2kd.config import ConfigError, load_config, zoo
from tool_runs import ROOT


def test_get_config_loads_a_fresh_copy_of_a_shared_config():
    first = zoo.get_config("common/distill_faster_rcnn.py")
    second = zoo.get_config("common/distill_faster_rcnn.py")
    assert first.model.student.roi_heads.num_classes == 6
    first.model.student.roi_heads.num_classes = 3  # a config that edits what it got ...
    assert second.model.student.roi_heads.num_classes == 6  # ... changes no other
    assert zoo.CONFIGS_ROOT == os.path.join(ROOT, "configs")


def test_a_project_config_gets_the_shared_pieces_it_names():
    mkd = load_config(os.path.join(ROOT, "projects/MKD/configs/Shapes/mkd_R18w64_to_R18_faster_rcnn.py"))
    base = zoo.get_config("common/distill_faster_rcnn.py")
    assert mkd.optimizer.lr == base.optimizer.lr and mkd.train.max_iter == base.train.max_iter
    assert mkd.model.student.backbone.out_channels == base.model.student.backbone.out_channels


def test_no_project_config_imports_configs_by_deep_relative_imports():
    offending = []
    for folder, _, files in os.walk(os.path.join(ROOT, "projects")):
        for name in files:
            if name.endswith(".py") and "/configs" in folder:
                with open(os.path.join(folder, name)) as f:
                    text = f.read()
                if "from .....configs" in text or "from ......configs" in text:
                    offending.append(os.path.relpath(os.path.join(folder, name), ROOT))
    assert offending == []


def test_unknown_shared_config_names_what_exists():
    with pytest.raises(ConfigError, match=r"No shared config configs/common/distil\.py; in that folder: .*distill\.py"):
        zoo.get_config("common/distil.py")
