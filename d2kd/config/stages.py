"""SAL stages as configs: the config of one stage of a staged (``stages``) config.

Pure config manipulation, so that the config checks (:mod:`d2kd.config.checks`) and the
stages offered to the tool (:mod:`d2kd.engine.stages`) both use it and the layering reads
one way: the engine imports the config package, never the reverse. The hand-off rule
(stage k+1 starts from stage k's final student) is written once, in :func:`handoff_checkpoint`.
"""
import copy
import os

from omegaconf import DictConfig, OmegaConf

from .checks import FINAL_CHECKPOINT

__all__ = ["stage_dir_name", "stage_name", "stage_config", "stage_key", "handoff_checkpoint"]


def stage_dir_name(index: int) -> str:
    """Sub-directory of stage ``index`` (0-based): ``stage1``, ``stage2``, ..."""
    return f"stage{index + 1}"


def stage_name(cfg, index: int) -> str:
    """The stage's ``name``, default ``stage<k>``."""
    return str(cfg.stages[index].get("name", None) or stage_dir_name(index))


def handoff_checkpoint(cfg, index: int) -> str:
    """The hand-off of stage ``index`` (0-based): the previous stage's final weights,
    ``<train.output_dir>/stage<k>/model_final.pth``, whose student this stage starts from;
    ``""`` for the first stage and for a stage that sets its own ``train.init_checkpoint``."""
    if index == 0:
        return ""
    train = cfg.stages[index].get("train", None)
    if train is not None and "init_checkpoint" in train:
        return ""
    return os.path.join(cfg.train.output_dir, stage_dir_name(index - 1), FINAL_CHECKPOINT)


def _merge_into(parent: DictConfig, key: str, value) -> None:
    """Merge a plain (unresolved) override ``value`` into ``parent[key]``."""
    current = parent.get(key, None) if key in parent else None
    if isinstance(value, dict) and "_target_" not in value and isinstance(current, DictConfig):
        for sub_key, sub_value in value.items():
            _merge_into(current, sub_key, sub_value)
    else:
        parent[key] = value


def stage_config(cfg, index: int):
    """The full config of stage ``index`` (0-based): the top-level config
    without ``stages``, the stage's overrides merged in, ``train.output_dir``
    set to its sub-directory and, for a stage with a hand-off (:func:`handoff_checkpoint`),
    ``train.init_checkpoint`` cleared: its student comes from the previous stage."""
    stage = cfg.stages[index]
    overrides = OmegaConf.to_container(stage, resolve=False) if isinstance(stage, DictConfig) else dict(stage)
    out = copy.deepcopy(cfg)
    out.pop("stages")
    for key, value in overrides.items():
        if key == "name":
            continue
        if key not in out:
            out[key] = value
        else:
            _merge_into(out, key, value)
    out.train.output_dir = os.path.join(cfg.train.output_dir, stage_dir_name(index))
    if handoff_checkpoint(cfg, index):
        out.train.init_checkpoint = ""
    return out


def _replaced_whole(value) -> bool:
    """Whether a stage's override ``value`` replaces the top-level value whole (a LazyCall
    node, a list or a plain value) rather than being merged into it key by key."""
    return not isinstance(value, dict) or "_target_" in value


def stage_key(cfg, index: int, key: str) -> str:
    """The override that sets ``key`` (a dotted path of a stage's config, e.g.
    ``model.teachers.weights``) in stage ``index`` (0-based), as the user writes it:
    ``stages.<index>.<key>`` where the stage's own overrides give that value, or replace a
    node above it whole (DFMSD's first stage declares its weak teacher,
    ``stages.0.model.teachers``); else ``key`` itself, the top-level value that the stage
    takes over (as do the other stages that do not set it)."""
    stage = cfg.stages[index]
    node = OmegaConf.to_container(stage, resolve=False) if isinstance(stage, DictConfig) else dict(stage)
    for part in key.split("."):
        if part not in node:  # node is a dict merged into the top level's: the key is not overridden
            return key
        node = node[part]
        if _replaced_whole(node):
            return f"stages.{index}.{key}"
    return f"stages.{index}.{key}"
