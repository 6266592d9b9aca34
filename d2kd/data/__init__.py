"""Data: the bundled synthetic shapes dataset and dataset checks.

Importing this package registers ``d2kd_shapes_{tiny,bench}_{train,val}`` in
detectron2's DatasetCatalog (see :mod:`d2kd.data.datasets`).
"""
from . import datasets as _  # noqa: F401  (registers the datasets)
from .checks import verify_images
from .datasets import dataset_root, ensure_generated, register_shapes_datasets, shapes_dataset_name
from .shapes import (
    SCALES,
    SHAPES_CLASSES,
    ShapesScale,
    ensure_split,
    generate_image,
    summarize_annotations,
)

__all__ = [
    "SCALES",
    "SHAPES_CLASSES",
    "ShapesScale",
    "dataset_root",
    "ensure_generated",
    "ensure_split",
    "generate_image",
    "register_shapes_datasets",
    "shapes_dataset_name",
    "summarize_annotations",
    "verify_images",
]
