"""The repository's shared lazy-config pieces by name, as detectron2's ``model_zoo.get_config``
gives its own: ``zoo.get_config("common/distill.py").model``.

Project configs (``projects/*/configs/...``) reach ``configs/`` through this instead of
relative imports many levels deep (``from .....configs.common.distill import model``).
Each call loads a fresh copy, so a config that edits what it got changes no other.
"""
import os

from .checks import ConfigError

__all__ = ["CONFIGS_ROOT", "config_file", "get_config"]

CONFIGS_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")


def config_file(path: str) -> str:
    """Absolute path of ``configs/<path>``; a ConfigError names what exists when it does not."""
    full = os.path.join(CONFIGS_ROOT, path)
    if not os.path.isfile(full):
        if not os.path.isdir(CONFIGS_ROOT):
            raise ConfigError(
                f"d2kd.config.zoo looks for shared configs in {CONFIGS_ROOT}, which does not exist: "
                "install d2kd from its repository with `pip install -e .` so that configs/ is beside it."
            )
        folder = os.path.dirname(full)
        near = sorted(os.listdir(folder)) if os.path.isdir(folder) else sorted(os.listdir(CONFIGS_ROOT))
        raise ConfigError(f"No shared config configs/{path}; in that folder: {', '.join(near)}")
    return full


def get_config(path: str):
    """``LazyConfig.load`` of ``configs/<path>`` (for example ``"common/distill.py"``)."""
    from detectron2.config import LazyConfig

    return LazyConfig.load(config_file(path))
