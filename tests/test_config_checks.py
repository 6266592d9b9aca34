"""d2kd.config.check_min_input_size: model.min_input_size against the training short edge."""
import copy
import os
import re

import pytest
from omegaconf import OmegaConf

import detectron2.data.transforms as T
from d2kd.config import ConfigError, apply_overrides_strictly, check_min_input_size
from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig
from detectron2.data import DatasetMapper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ABSENT = object()


def _mapper(short_edge_length, resize=True):
    augmentations = [L(T.RandomFlip)(horizontal=True)]
    if resize:
        augmentations.insert(
            0, L(T.ResizeShortestEdge)(short_edge_length=short_edge_length, sample_style="choice", max_size=256)
        )
    return L(DatasetMapper)(is_train=True, augmentations=augmentations, image_format="BGR")


def _cfg(short_edge_length=(112, 128, 144), min_input_size=112, resize=True):
    model = dict(_target_="d2kd.modeling.DistillationDetector", student=dict(), teachers=dict())
    if min_input_size is not _ABSENT:
        model["min_input_size"] = min_input_size
    return OmegaConf.create(
        dict(
            model=model,
            dataloader=dict(train=dict(mapper=_mapper(short_edge_length, resize), total_batch_size=2)),
            train=dict(output_dir="./output/x", max_iter=10, init_checkpoint=""),
        ),
        flags={"allow_objects": True},
    )


def test_exported_from_the_package():
    import d2kd.config

    assert "check_min_input_size" in d2kd.config.__all__


@pytest.mark.parametrize("min_input_size", [112, 96, 1])
def test_min_input_size_up_to_the_smallest_short_edge_passes(min_input_size):
    check_min_input_size(_cfg((112, 128, 144), min_input_size))


def test_min_input_size_above_the_smallest_short_edge_fails_with_the_fix():
    with pytest.raises(ConfigError) as info:
        check_min_input_size(_cfg((96, 112), 112))
    message = str(info.value)
    assert "model.min_input_size=112" in message
    assert "smallest training short edge, 96" in message
    assert "short_edge_length=[96, 112]" in message
    assert message.endswith("Set model.min_input_size=96.")
    assert not message.startswith("Stage")


def test_a_single_short_edge_length():
    check_min_input_size(_cfg(128, 128))
    with pytest.raises(ConfigError, match=r"Set model\.min_input_size=100\."):
        check_min_input_size(_cfg(100, 128))


def test_the_override_of_the_brief_is_caught():
    """The case the check exists for: a short-edge override that leaves min_input_size stale."""
    cfg = apply_overrides_strictly(
        _cfg(), ["dataloader.train.mapper.augmentations.0.short_edge_length=[80,96]"]
    )
    with pytest.raises(ConfigError, match=r"smallest training short edge, 80"):
        check_min_input_size(cfg)
    check_min_input_size(apply_overrides_strictly(cfg, ["model.min_input_size=80"]))


@pytest.mark.parametrize("value", [_ABSENT, None, 0])
def test_no_min_input_size_means_no_check(value):
    check_min_input_size(_cfg((32, 48), value))


def test_plain_detector_config_is_not_checked():
    cfg = _cfg((32, 48))
    cfg.model = dict(_target_="detectron2.modeling.meta_arch.RetinaNet", num_classes=6)
    check_min_input_size(cfg)


def test_mapper_without_resize_shortest_edge_is_not_checked():
    check_min_input_size(_cfg(None, 4096, resize=False))


def test_config_without_train_loader_is_not_checked():
    cfg = _cfg((32, 48), 112)
    del cfg["dataloader"]
    check_min_input_size(cfg)


def test_every_resize_shortest_edge_counts():
    cfg = _cfg((112, 128), 112)
    cfg.dataloader.train.mapper.augmentations.append(L(T.ResizeShortestEdge)(short_edge_length=[64]))
    with pytest.raises(ConfigError, match=r"smallest training short edge, 64 .*\[64, 112, 128\]"):
        check_min_input_size(cfg)


def test_saved_yaml_config_with_string_targets(tmp_path):
    """After LazyConfig.save/load the targets are strings; the check still finds the resize."""
    cfg = _cfg((96, 112), 112)
    path = str(tmp_path / "config.yaml")
    LazyConfig.save(cfg, path)
    reloaded = LazyConfig.load(path)
    assert isinstance(reloaded.dataloader.train.mapper.augmentations[0]._target_, str)
    with pytest.raises(ConfigError, match=r"Set model\.min_input_size=96\."):
        check_min_input_size(reloaded)


def test_string_target_by_its_public_path():
    cfg = _cfg((112,), 112)
    cfg.dataloader.train.mapper.augmentations[0]._target_ = "detectron2.data.transforms.ResizeShortestEdge"
    check_min_input_size(cfg)
    cfg.dataloader.train.mapper.augmentations[0].short_edge_length = [90]
    with pytest.raises(ConfigError, match=r"smallest training short edge, 90"):
        check_min_input_size(cfg)


def test_other_string_targets_are_ignored():
    cfg = _cfg((112,), 112)
    cfg.dataloader.train.mapper.augmentations[0]._target_ = "detectron2.data.transforms.ResizeScale"
    cfg.dataloader.train.mapper.augmentations[0].short_edge_length = [8]
    check_min_input_size(cfg)


def test_built_augmentation_objects_are_read_too():
    cfg = _cfg((112,), 112)
    cfg.dataloader.train.mapper.augmentations = [T.ResizeShortestEdge((72, 80)), T.RandomFlip()]
    with pytest.raises(ConfigError, match=r"smallest training short edge, 72"):
        check_min_input_size(cfg)


def test_interpolated_short_edge_is_resolved():
    cfg = _cfg((112,), 112)
    cfg.sizes = [64, 128]
    cfg.dataloader.train.mapper.augmentations[0].short_edge_length = "${sizes}"
    with pytest.raises(ConfigError, match=r"smallest training short edge, 64"):
        check_min_input_size(cfg)


# ---------------------------------------------------------------- SAL stages


def _sal_cfg(stage0, stage1=None):
    cfg = _cfg((112, 128, 144), 112)
    cfg.stages = OmegaConf.create(
        [dict(name="weak", **stage0), dict(name="strong", **(stage1 or {}))], flags={"allow_objects": True}
    )
    return cfg


def test_stage_with_its_own_smaller_mapper_fails_naming_the_stage():
    cfg = _sal_cfg(dict(dataloader=dict(train=dict(mapper=_mapper([80, 96])))))
    top_level = copy.deepcopy(cfg)
    top_level.pop("stages")
    check_min_input_size(top_level)  # the top level alone is fine
    with pytest.raises(ConfigError) as info:
        check_min_input_size(cfg)
    message = str(info.value)
    assert message.startswith("Stage 1 (weak): model.min_input_size=112")
    assert "smallest training short edge, 80" in message
    assert "Set model.min_input_size=80." in message


def test_later_stage_inherits_the_top_level_mapper():
    cfg = _sal_cfg(dict(dataloader=dict(train=dict(mapper=_mapper([144])))))
    cfg.dataloader.train.mapper.augmentations[0].short_edge_length = [100]
    with pytest.raises(ConfigError, match=r"^Stage 2 \(strong\): .*short edge, 100"):
        check_min_input_size(cfg)


def test_stage_override_of_min_input_size_fixes_it():
    cfg = _sal_cfg(
        dict(dataloader=dict(train=dict(mapper=_mapper([80, 96]))), model=dict(min_input_size=80))
    )
    check_min_input_size(cfg)


def test_stage_that_replaces_the_model_without_min_input_size_is_not_checked():
    plain = dict(_target_="d2kd.modeling.DistillationDetector", student=dict(), teachers=dict())
    cfg = _sal_cfg(dict(dataloader=dict(train=dict(mapper=_mapper([32]))), model=plain))
    check_min_input_size(cfg)


def test_stage_override_through_the_command_line():
    """Stage 1's mapper is a separate node: an override of the top-level one does not reach it."""
    cfg = _sal_cfg(dict(dataloader=dict(train=dict(mapper=_mapper([112, 128])))))
    cfg = apply_overrides_strictly(cfg, ["stages.0.dataloader.train.mapper.augmentations.0.short_edge_length=[96]"])
    with pytest.raises(ConfigError, match=r"^Stage 1 \(weak\): .*short edge, 96"):
        check_min_input_size(cfg)


# ---------------------------------------------------------------- the project's configs


@pytest.mark.parametrize(
    "config",
    [
        "configs/baselines/fitnet_R50_to_R18_retinanet.py",
        "projects/DFMSD/configs/Shapes/dfmsd_R34_R50_to_R18_retinanet.py",
    ],
)
def test_project_configs_pass_and_catch_a_stale_override(config):
    cfg = LazyConfig.load(os.path.join(ROOT, config))
    check_min_input_size(cfg)
    size = "dataloader.train.mapper.augmentations.0.short_edge_length=[96,112]"
    stale = apply_overrides_strictly(cfg, [size])
    with pytest.raises(ConfigError, match=r"Set model\.min_input_size=96\."):
        check_min_input_size(stale)
    check_min_input_size(apply_overrides_strictly(cfg, [size, "model.min_input_size=96"]))


def test_non_finite_numbers_anywhere_under_model_fail_naming_the_key():
    """A NaN loss weight passes a `< 0` check; check_train_values finds it at any depth."""
    from d2kd.config import check_train_values, load_config

    cfg = load_config(os.path.join(ROOT, "configs/baselines/fitnet_R18w64_to_R18_faster_rcnn.py"))
    check_train_values(cfg)  # the shipped config passes
    cfg.model.distill_losses[0].weight = float("nan")
    with pytest.raises(ConfigError, match=r"^model\.distill_losses\.0\.weight=nan: must be a finite number"):
        check_train_values(cfg)
    cfg.model.distill_losses[0].weight = 1.0
    cfg.model.student.roi_heads.box_predictor.test_score_thresh = float("inf")
    with pytest.raises(ConfigError, match=r"model\.student\.roi_heads\.box_predictor\.test_score_thresh=inf"):
        check_train_values(cfg)


def test_a_stage_override_of_a_key_the_stage_takes_from_the_top_level_names_the_top_level_key():
    """DFMSD's first stage sets only ``enhance`` of the run's one train mapper: its size is the
    top level's, and the error says so."""
    from d2kd.config import load_config
    from d2kd.config.stages import stage_config

    cfg = load_config(os.path.join(ROOT, "projects/DFMSD/configs/Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py"))
    with pytest.raises(ConfigError, match=re.escape(
            "stage 1 does not set dataloader.train.mapper.augmentations.0.short_edge_length; it takes it "
            "from the top level, like every stage that does not set its own: write "
            "dataloader.train.mapper.augmentations.0.short_edge_length=[96].")):
        apply_overrides_strictly(cfg, ["stages.0.dataloader.train.mapper.augmentations.0.short_edge_length=[96]"])
    with pytest.raises(ConfigError, match="the config has no key 'stages.2.dataloader"):  # 2 stages
        apply_overrides_strictly(cfg, ["stages.2.dataloader.train.mapper.augmentations.0.short_edge_length=[96]"])
    applied = apply_overrides_strictly(cfg, ["dataloader.train.mapper.augmentations.0.short_edge_length=[96]",
                                             "stages.0.dataloader.train.mapper.enhance=True"])
    first = stage_config(applied, 0).dataloader.train.mapper
    assert list(first.augmentations[0].short_edge_length) == [96] and first.enhance is True
