"""Registers the bundled shapes dataset in detectron2's DatasetCatalog and MetadataCatalog.

Names are ``d2kd_shapes_{scale}_{split}`` for every scale of
:data:`d2kd.data.shapes.SCALES` and split "train", "val" or "test" (held out: it
reports, never chooses), e.g.
``d2kd_shapes_bench_train``. Importing :mod:`d2kd.data` registers them under
:func:`dataset_root`.

Splits are generated on demand: ``DatasetCatalog.get(name)`` generates the
split when it is missing or stale (bench: about a minute with 2 processes,
or run ``python tools/make_dataset.py --scale bench`` beforehand), then loads
it with :func:`detectron2.data.datasets.load_coco_json`. The metadata's ``json_file``
therefore exists only once the split was generated. ``COCOEvaluator`` reads
that file, so call ``DatasetCatalog.get(name)`` (building the test loader
does, and the stock ``tools/lazyconfig_train_net.py`` builds it before the
evaluator) or :func:`ensure_generated` before building a ``COCOEvaluator``.
"""
import functools
import os
from typing import Dict, List, Optional, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json

from .shapes import (
    ANNOTATIONS_FILE,
    IMAGES_DIR,
    SCALES,
    SHAPES_CLASSES,
    SPLITS,
    ensure_split,
    split_dir,
)

__all__ = [
    "dataset_root",
    "shapes_dataset_name",
    "register_shapes_datasets",
    "ensure_generated",
]

NAME_PREFIX = "d2kd_shapes"

# name -> (absolute root, scale, split) of the current registration.
_REGISTERED: Dict[str, Tuple[str, str, str]] = {}


def dataset_root() -> str:
    """Absolute root of the shapes dataset.

    ``$D2KD_DATASETS`` if set, else ``$DETECTRON2_DATASETS/d2kd_shapes`` if
    set, else ``./datasets/d2kd_shapes`` relative to the current directory
    (as detectron2's own ``datasets/``).
    """
    if os.environ.get("D2KD_DATASETS"):
        root = os.environ["D2KD_DATASETS"]
    elif os.environ.get("DETECTRON2_DATASETS"):
        root = os.path.join(os.environ["DETECTRON2_DATASETS"], NAME_PREFIX)
    else:
        root = os.path.join("datasets", NAME_PREFIX)
    return os.path.abspath(os.path.expanduser(root))


def shapes_dataset_name(scale: str, split: str) -> str:
    """``d2kd_shapes_{scale}_{split}``."""
    return f"{NAME_PREFIX}_{scale}_{split}"


def ensure_generated(name: str) -> str:
    """Generates the registered split ``name`` if missing or stale; returns its JSON path.

    Call it (or ``DatasetCatalog.get(name)``) before building a ``COCOEvaluator``
    for ``name``: the evaluator reads ``MetadataCatalog.get(name).json_file``.
    """
    if name not in _REGISTERED:
        raise KeyError(
            f"{name!r} is not a registered d2kd shapes dataset; known: {sorted(_REGISTERED)}"
        )
    root, scale, split = _REGISTERED[name]
    return ensure_split(root, scale, split)


def _load(name: str) -> List[dict]:
    """DatasetCatalog function: generate on demand, then read in detectron2's format."""
    json_file = ensure_generated(name)
    image_root = os.path.join(os.path.dirname(json_file), IMAGES_DIR)
    return load_coco_json(json_file, image_root, dataset_name=name)


def _register_one(name: str, root: str, scale: str, split: str) -> None:
    """(Re-)registers one split; replaces an earlier registration of ``name``."""
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
    if name in MetadataCatalog.list():
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, functools.partial(_load, name))
    directory = split_dir(root, scale, split)
    MetadataCatalog.get(name).set(
        thing_classes=list(SHAPES_CLASSES),
        thing_dataset_id_to_contiguous_id={i + 1: i for i in range(len(SHAPES_CLASSES))},
        evaluator_type="coco",
        json_file=os.path.join(directory, ANNOTATIONS_FILE),
        image_root=os.path.join(directory, IMAGES_DIR),
        scale=scale,
        split=split,
    )
    _REGISTERED[name] = (root, scale, split)


def register_shapes_datasets(root: Optional[str] = None) -> List[str]:
    """Registers ``d2kd_shapes_{scale}_{split}`` for every scale and split; returns the names.

    Idempotent. Calling it again with another ``root`` re-points all names
    (their metadata included). Nothing is generated here.

    Args:
        root: dataset root; default :func:`dataset_root`, read at call time.
    """
    root = os.path.abspath(root) if root is not None else dataset_root()
    names = []
    for scale in SCALES:
        for split in SPLITS:
            name = shapes_dataset_name(scale, split)
            _register_one(name, root, scale, split)
            names.append(name)
    return names


register_shapes_datasets()
