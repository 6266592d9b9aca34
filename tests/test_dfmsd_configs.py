"""DFMSD's configs with ``stages``: every stage resolves, passes the runner's checks and builds
its train mapper; the main CPU configs build every stage's model (narrowed) with fresh teacher
weights. (tests/test_configs.py builds each config's top-level ``model``.)"""
import copy
import glob
import os

import pytest
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from tool_runs import ROOT

from d2kd.engine.stages import check_stages, describe_teachers
from d2kd.modeling.backbone import make_resnet_stages
from detectron2.config import LazyConfig, instantiate
from dfmsd import DFMSDDetector, DFMSDLoss, MaskingEnhancementMapper

CONFIG_DIR = os.path.join(ROOT, "projects", "DFMSD", "configs")
ALL = sorted(os.path.relpath(p, CONFIG_DIR) for p in glob.glob(os.path.join(CONFIG_DIR, "**", "*.py"), recursive=True))
LOADED = {c: LazyConfig.load(os.path.join(CONFIG_DIR, c)) for c in ALL}  # read-only: tests copy what they change
STAGED = [c for c in ALL if "stages" in LOADED[c]]
MAIN = [c for c in STAGED if c.startswith("Shapes/dfmsd_")]


def _narrow(node):
    """Make every ResNet of a config tree 8 wide (fast to build)."""
    if isinstance(node, DictConfig):
        if node.get("_target_", None) in (make_resnet_stages, "d2kd.modeling.backbone.resnet.make_resnet_stages"):
            node.base_width = 8
        for key in node.keys():
            _narrow(node.get(key))
    elif isinstance(node, ListConfig):
        for item in node:
            _narrow(item)


def test_every_main_setting_has_a_config():
    assert {
        "Shapes/dfmsd_R34_R50_to_R18_retinanet.py",
        "Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py",
        "Shapes/dfmsd_faster_rcnn_R34_R18w64_to_R18_retinanet.py",
        "Shapes/dfmsd_swin_nano_micro_to_R18_retinanet.py",
        "COCO/dfmsd_R101_X101_to_R50_retinanet.py",
    } <= set(STAGED)
    assert {"Shapes/dfmsd_onestage_R50_to_R18_retinanet.py", "COCO/dfmsd_onestage_X101_to_R50_retinanet.py"} <= set(ALL)
    ablations = {os.path.basename(c) for c in ALL if "/ablations/" in c}
    for table in ("table7", "table8", "table9", "table10", "table11"):
        assert any(a.startswith(table) for a in ablations), table


@pytest.mark.parametrize("config", STAGED)
def test_stages_resolve_and_mappers_build(config):
    cfg = LazyConfig.load(os.path.join(CONFIG_DIR, config))
    stage_cfgs = check_stages(cfg)
    assert len(stage_cfgs) >= 2
    outputs = {s.train.output_dir for s in stage_cfgs}
    assert len(outputs) == len(stage_cfgs)
    for scfg in stage_cfgs:
        OmegaConf.to_container(scfg.model, resolve=True)  # every interpolation resolves in place
        assert scfg.model.teachers.weights.endswith("model_final.pth")
        mapper = copy.deepcopy(scfg.dataloader.train.mapper)
        if "box_cache" in mapper:
            assert mapper.box_cache.endswith(".json"), "ME stages read the weak teacher's boxes"
            mapper.box_cache = ""
        instantiate(mapper)
    # stages differ in their teacher; only the last one enhances (except the table 8 ablations)
    assert len({describe_teachers(s.model) for s in stage_cfgs}) == len(stage_cfgs)
    me = [bool(s.model.get("masking_enhancement", False)) for s in stage_cfgs]
    if "table8" not in config:
        assert me[-1] == ("_sal." not in config and "_sal_sfa" not in config) and not any(me[:-1])


@pytest.mark.parametrize("config", MAIN)
def test_every_stage_model_builds(config, tmp_path):
    cfg = LazyConfig.load(os.path.join(CONFIG_DIR, config))
    _narrow(cfg)
    for i, scfg in enumerate(check_stages(cfg)):
        teacher = scfg.model.teachers
        weights = tmp_path / f"teacher{i}.pth"
        torch.save({"model": instantiate(teacher.model).state_dict()}, weights)
        teacher.weights = str(weights)
        model = instantiate(scfg.model)
        assert isinstance(model, DFMSDDetector)
        assert isinstance(model.distill_losses[0], DFMSDLoss)
        assert model.masking_enhancement == (i == len(cfg.stages) - 1)


@pytest.mark.parametrize("config", [c for c in ALL if not c.startswith("common/")])
def test_the_mapper_makes_the_enhanced_view_exactly_where_the_model_uses_it(config):
    """Each stage (or a config without stages) enhances its training images iff its model
    distils on the enhanced view: no view computed for nothing, none missing."""
    from d2kd.config.stages import stage_config

    cfg = LOADED[config]  # stage_config copies; nothing here writes to cfg
    runs = [stage_config(cfg, i) for i in range(len(cfg.stages))] if "stages" in cfg else [cfg]
    for i, run in enumerate(runs):
        mapper = run.dataloader.train.mapper
        if mapper.get("_target_", None) not in (MaskingEnhancementMapper, "dfmsd.MaskingEnhancementMapper"):
            assert not run.model.get("masking_enhancement", False), (config, i)
            continue
        assert bool(mapper.get("enhance", True)) == bool(run.model.get("masking_enhancement", False)), (config, i)
