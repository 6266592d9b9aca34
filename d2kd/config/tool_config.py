"""The config a tool runs with: the file, the command line's overrides, its datasets."""
from typing import Sequence

from .checks import apply_overrides_strictly, load_config
from .datasets import register_config_datasets

__all__ = ["load_tool_config"]


def load_tool_config(path: str, overrides: Sequence[str] = ()):
    """Load the lazy config ``path``, apply ``key=value`` ``overrides`` strictly (unknown
    keys and mistyped values are a :class:`ConfigError`) and register the datasets it
    declares (``datasets = dict(...)`` or ``+datasets.<name>=[json,images]``), as every
    tool must before building anything. Call it in every process."""
    cfg = apply_overrides_strictly(load_config(path), list(overrides))
    register_config_datasets(cfg)
    return cfg
