"""Config helpers: loading lazy configs with checks that catch mistakes before training."""
from .checks import (
    ConfigError,
    apply_overrides_strictly,
    check_datasets_registered,
    check_min_input_size,
    check_num_classes,
    check_output_dir,
    check_run_folder,
    check_split_categories,
    check_train_values,
    dataset_names_in,
    load_config,
    resolve_init_checkpoint,
    run_folder_kind,
)
from .datasets import declared_datasets, register_config_datasets
from .tool_config import load_tool_config
from . import zoo  # zoo.get_config: the shared configs of configs/ by name

__all__ = [
    "ConfigError",
    "apply_overrides_strictly",
    "check_datasets_registered",
    "check_min_input_size",
    "check_num_classes",
    "check_output_dir",
    "check_run_folder",
    "check_split_categories",
    "check_train_values",
    "dataset_names_in",
    "declared_datasets",
    "load_config",
    "load_tool_config",
    "resolve_init_checkpoint",
    "run_folder_kind",
    "zoo",
    "register_config_datasets",
]
