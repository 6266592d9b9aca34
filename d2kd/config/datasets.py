"""COCO-format datasets declared in a config, registered with detectron2's own catalog.

A config (or the command line) declares each split of a user's dataset under
the top-level key ``datasets``, by name::

    datasets = dict(
        trees_train=dict(json_file="trees/train.json", image_root="trees/images"),
        trees_val=dict(json_file="trees/val.json", image_root="trees/images"),
    )

or, as overrides, ``+datasets.trees_train=[trees/train.json,trees/images]``.
:func:`register_config_datasets` registers each as
``detectron2.data.datasets.register_coco_instances`` does (so ``DatasetCatalog``,
``MetadataCatalog`` and ``COCOEvaluator`` see an ordinary detectron2 dataset),
in every process that loads the config, before the pre-training checks: the
user needs no Python module and no PYTHONPATH of their own. The one difference:
a json that is not valid JSON is a :class:`ConfigError` naming the file, the
line and column, and the fix, wherever the split is first read (the checks
before training read it), not a raw ``JSONDecodeError`` naming no file.
"""
import functools
import json
import os
from typing import Dict, List, Tuple

from omegaconf import OmegaConf

from .checks import ConfigError

DATASETS_KEY = "datasets"
_FORM = (
    "declare a split as datasets.<name>=dict(json_file=<coco.json>, image_root=<image folder>) "
    "in the config, or +datasets.<name>=[<coco.json>,<image folder>] on the command line"
)


def declared_datasets(cfg) -> Dict[str, Tuple[str, str]]:
    """``{name: (json_file, image_root)}`` of the config's ``datasets`` key ({} when absent)."""
    node = cfg.get(DATASETS_KEY, None) if OmegaConf.is_dict(cfg) else None
    if node is None:
        return {}
    if not OmegaConf.is_dict(node):
        raise ConfigError(f"{DATASETS_KEY} must map dataset names to their files; {_FORM}.")
    declared = {}
    for name, spec in node.items():
        key = f"{DATASETS_KEY}.{name}"
        if OmegaConf.is_list(spec) and len(spec) == 2:
            json_file, image_root = spec
        elif OmegaConf.is_dict(spec) and set(spec.keys()) == {"json_file", "image_root"}:
            json_file, image_root = spec.json_file, spec.image_root
        else:
            raise ConfigError(f"{key}={OmegaConf.to_container(spec) if OmegaConf.is_config(spec) else spec!r} "
                              f"is not a dataset declaration: {_FORM}.")
        declared[str(name)] = (str(json_file), str(image_root))
    return declared


def _invalid_json_message(name: str, json_file: str, error: ValueError) -> str:
    """Why the COCO json of split ``name`` cannot be read, where, and what to do."""
    key = f"{DATASETS_KEY}.{name}"
    fix = (f"Fix the file (python -m json.tool {json_file} shows the first error) or write it "
           "again with json.dump; a COCO json is one object with \"images\", \"annotations\" and "
           "\"categories\".")
    if isinstance(error, UnicodeDecodeError):
        return (f"{key}: the COCO json {json_file!r} is not JSON text: {error.reason} at byte "
                f"{error.start}. {fix}")
    if not error.doc.strip():
        return f"{key}: the COCO json {json_file!r} is empty. {fix}"
    start = max(0, error.pos - 30)
    excerpt = "".join(" " if c in "\r\n\t" else c for c in error.doc[start:error.pos + 30])
    marker = " " * (error.pos - start) + "^"
    return (f"{key}: the COCO json {json_file!r} is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno} (character {error.pos}):\n    {excerpt}\n    {marker}\n{fix}")


def _load_coco_json(name: str, json_file: str, image_root: str):
    """detectron2's ``load_coco_json`` of a declared split; malformed JSON is a ConfigError."""
    from detectron2.data.datasets import load_coco_json

    try:
        return load_coco_json(json_file, image_root, name)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(_invalid_json_message(name, json_file, e)) from e


def register_config_datasets(cfg) -> List[str]:
    """Registers every split under ``cfg.datasets`` as detectron2's
    ``register_coco_instances`` does (a lazy ``load_coco_json``, the metadata
    ``json_file``, ``image_root``, ``evaluator_type="coco"``); returns their names.
    Reading a split whose json is not valid JSON raises :class:`ConfigError` naming
    the file and the line and column of the first error.

    Raises :class:`ConfigError` before anything trains when a JSON file or image
    folder does not exist, or when the name is already registered for other files
    (for example a builtin detectron2 dataset): choose another name. Registering
    the same files under the same name again (a second stage, a second call) is a
    no-op.
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog

    names = []
    for name, (json_file, image_root) in declared_datasets(cfg).items():
        key = f"{DATASETS_KEY}.{name}"
        if not os.path.isfile(json_file):
            raise ConfigError(f"{key}: the COCO json {json_file!r} does not exist (paths are relative to "
                              f"the folder the tool runs in, {os.getcwd()!r}).")
        if not os.path.isdir(image_root):
            raise ConfigError(f"{key}: the image folder {image_root!r} does not exist (paths are relative "
                              f"to the folder the tool runs in, {os.getcwd()!r}).")
        if name in DatasetCatalog.list():
            known = MetadataCatalog.get(name)
            same = (known.get("json_file", None) == json_file and known.get("image_root", None) == image_root)
            if not same:
                raise ConfigError(
                    f"{key}: a dataset named {name!r} is already registered "
                    f"({known.get('json_file', 'a builtin or code-registered dataset')}); give your split "
                    "another name, in datasets.<name> and in dataloader.*.dataset.names."
                )
        else:
            DatasetCatalog.register(name, functools.partial(_load_coco_json, name, json_file, image_root))
            MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="coco")
        names.append(name)
    return names
