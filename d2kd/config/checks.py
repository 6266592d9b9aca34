"""Checks run on a lazy config before anything is trained.

Each raises :class:`ConfigError` with a message that names the problem and the
fix, so that a typo costs seconds, not a training run.
"""
import difflib
import logging
import math
import os
import re
import tempfile
import warnings
from typing import Iterable, List, Sequence

from omegaconf import DictConfig, OmegaConf

from ..utils.errors import ConfigError
from .teachers import iter_teachers

logger = logging.getLogger(__name__)

_MISSING = object()


def _nearby_configs(path: str) -> List[str]:
    folder = os.path.dirname(path) or "."
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    if not folder:
        return []
    candidates = [
        os.path.join(root, name)
        for root, _, files in os.walk(folder)
        for name in files
        if name.endswith((".py", ".yaml"))
    ]
    return difflib.get_close_matches(path, candidates, n=3, cutoff=0.5)


def load_config(path: str):
    """``LazyConfig.load`` with a clear error for a missing or non-Python config file."""
    from detectron2.config import LazyConfig

    if not os.path.isfile(path):
        hint = _nearby_configs(path)
        raise ConfigError(
            f"Config file not found: {path!r}."
            + (f" Did you mean: {', '.join(hint)}?" if hint else "")
            + " Configs live in configs/ and projects/*/configs/."
        )
    if not path.endswith((".py", ".yaml")):
        raise ConfigError(f"Config file {path!r} must be a lazy config (.py) or a saved .yaml.")
    return LazyConfig.load(path)


def _all_keys(cfg, prefix: str = "") -> List[str]:
    keys = []
    for key in cfg.keys():
        full = f"{prefix}{key}"
        keys.append(full)
        value = cfg.get(key) if not OmegaConf.is_missing(cfg, key) else None
        if OmegaConf.is_dict(value):
            keys.extend(_all_keys(value, full + "."))
    return keys


def apply_overrides_strictly(cfg, overrides: Sequence[str]):
    """Apply ``key=value`` overrides; a key that does not exist is an error.

    detectron2's ``LazyConfig.apply_overrides`` silently creates missing keys,
    so a typo such as ``train.max_iters=10`` would train for the default length.
    Here a new key must be asked for explicitly with a ``+`` prefix
    (``+train.new_key=1``), as in Hydra.
    """
    from detectron2.config import LazyConfig

    plain = []
    for override in overrides:
        if override.startswith("--"):
            raise ConfigError(
                f"{override!r} is a flag written after the key=value overrides, where it is read as "
                "an override; write flags first: tools/lazyconfig_train_net.py --resume --config-file "
                "<config> key=value ..."
            )
        if "=" not in override:
            raise ConfigError(f"Override {override!r} is not of the form key=value.")
        key, value = override.split("=", 1)
        if key.startswith("+"):
            plain.append(f"{key[1:]}={value}")
            continue
        current = OmegaConf.select(cfg, key, default=_MISSING, throw_on_resolution_failure=False)
        renamed = _renamed_key(cfg, key) if current is _MISSING else None
        if renamed is not None:
            message = f"Override {override!r}: {key} is deprecated: use {renamed} (the same value)"
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            logger.warning(message)
            key, override = renamed, f"{renamed}={value}"
            current = OmegaConf.select(cfg, key, default=_MISSING, throw_on_resolution_failure=False)
        if current is _MISSING:
            inherited = _stage_inherits(cfg, key)
            if inherited is not None:
                raise ConfigError(
                    f"Override {override!r}: stage {int(key.split('.')[1]) + 1} does not set {inherited}; "
                    f"it takes it from the top level, like every stage that does not set its own: "
                    f"write {inherited}={value}."
                )
            hint = difflib.get_close_matches(key, _all_keys(cfg), n=3)
            raise ConfigError(
                f"Override {override!r}: the config has no key {key!r}."
                + (f" Did you mean: {', '.join(hint)}?" if hint else "")
                + f" To add a new key on purpose, write +{key}={value}."
            )
        _check_override_type(override, key, current, _parse_override_value(override))
        plain.append(override)
    return LazyConfig.apply_overrides(cfg, plain)


def _stage_inherits(cfg, key: str):
    """For ``stages.<i>.<rest>`` that the stage does not set but the top level has: ``<rest>``
    (a SAL stage merges its own keys into the top-level config; DFMSD's first stage, for
    one, takes the run's train mapper and sets only ``enhance``). Else None."""
    parts = key.split(".")
    if (len(parts) < 3 or parts[0] != "stages" or not parts[1].isdigit() or "stages" not in cfg
            or int(parts[1]) >= len(cfg.stages)):
        return None
    rest = ".".join(parts[2:])
    node = OmegaConf.select(cfg, ".".join(parts[:2]), default=None, throw_on_resolution_failure=False)
    for part in parts[2:]:  # a node the stage replaces whole (a _target_) inherits nothing below it
        if not isinstance(node, DictConfig) or part not in node:
            break
        node = node[part]
        if isinstance(node, DictConfig) and "_target_" in node:
            return None
    found = OmegaConf.select(cfg, rest, default=_MISSING, throw_on_resolution_failure=False)
    return rest if found is not _MISSING else None


def _renamed_key(cfg, key: str):
    """The current name of ``key`` when its node's class renamed that argument (the class's
    ``renamed_arguments``, e.g. MKD's ``alpha`` -> ``weight``) and the config spells it
    the new way; else None."""
    from detectron2.utils.registry import locate

    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None, throw_on_resolution_failure=False) if parent else cfg
    target = node.get("_target_", None) if isinstance(node, DictConfig) else None
    if isinstance(target, str):
        try:
            target = locate(target)
        except Exception:  # noqa: BLE001  (an unknown class: no renamed arguments to know of)
            return None
    new_name = (getattr(target, "renamed_arguments", None) or {}).get(name)
    if new_name is None or new_name not in node:
        return None
    return f"{parent}.{new_name}" if parent else new_name


def _parse_override_value(override: str):
    """The value of ``key=value`` as detectron2's ``apply_overrides`` reads it (Hydra's parser)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        (parsed,) = OverridesParser.create().parse_overrides([override])
    except Exception as e:  # noqa: BLE001  (Hydra raises its own OverrideParseException)
        raise ConfigError(f"Override {override!r} cannot be parsed: {e}") from e
    return parsed.value()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value) -> bool:
    """An int (not a bool, not a float such as 1e3: range() and the data loader need ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_override_type(override: str, key: str, current, value) -> None:
    """An override of a number, a whole number or a bool must give one (finite), e.g.
    ``train.max_iter=abc`` or ``optimizer.lr=nan`` fail here, before training."""
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"Override {override!r}: {key} is a bool (now {current}); give True or False.")
        return
    if not _is_number(current):
        return  # strings, lists, nodes, None: any value
    if not _is_number(value):
        raise ConfigError(f"Override {override!r}: {key} is a number (now {current!r}), and {value!r} is not; "
                          "give a number.")
    if not math.isfinite(value):
        raise ConfigError(f"Override {override!r}: {key} must be a finite number, got {value}.")
    # (a float over a whole number is fine in general, e.g. weight_decay=1e-4 over 0; the keys
    # that must be whole numbers are checked by check_train_values)


# train keys that must be whole numbers of at least this value in every run
_TRAIN_MINIMUMS = {"max_iter": 1, "log_period": 1, "eval_period": 0, "checkpointer.period": 1}


def check_train_values(cfg, where: str = ""):
    """Iterations, periods and the batch size are in range; every float of ``model``,
    ``optimizer`` and ``train`` is finite (a NaN loss weight passes a ``< 0`` check)."""
    for key, minimum in _TRAIN_MINIMUMS.items():
        value = OmegaConf.select(cfg.train, key, default=None)
        if value is None:
            continue
        if not _is_whole(value) or value < minimum:
            raise ConfigError(f"{where}train.{key}={value!r}: give a whole number >= {minimum}.")
    factor = OmegaConf.select(cfg.train, "loss_explosion_factor", default=None)
    if factor is not None and (not _is_number(factor) or not (factor == 0 or factor > 1)):
        raise ConfigError(f"{where}train.loss_explosion_factor={factor!r}: give a number above 1 "
                          "(the multiple of the first total loss that stops the run), or 0 to turn the check off.")
    batch = OmegaConf.select(cfg, "dataloader.train.total_batch_size", default=None)
    if batch is not None and (not _is_whole(batch) or batch < 1):
        raise ConfigError(f"{where}dataloader.train.total_batch_size={batch!r}: give a whole number >= 1.")
    for section in ("model", "optimizer", "train", "lr_multiplier"):
        node = cfg.get(section, None)
        if node is not None:
            _check_finite(node, section, where)


def _check_finite(node, key: str, where: str):
    """Every float under ``node`` is finite; interpolations are not resolved (their target
    is checked where it is written)."""
    if OmegaConf.is_dict(node):
        children = ((str(k), node._get_node(k)) for k in node.keys())
    elif OmegaConf.is_list(node):
        children = ((str(i), node._get_node(i)) for i in range(len(node)))
    else:
        return
    for name, child in children:
        full = f"{key}.{name}"
        if OmegaConf.is_config(child):
            _check_finite(child, full, where)
            continue
        value = child._value()
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}{full}={value}: must be a finite number.")


def dataset_names_in(cfg, splits: Sequence[str] = ("train", "test")) -> List[str]:
    """Dataset names referenced by ``dataloader.<split>.dataset.names`` for each of ``splits``
    (``--eval-only`` asks for the test split's alone)."""
    names: List[str] = []
    loaders = cfg.get("dataloader", None)
    if loaders is None:
        return names
    for split in splits:
        loader = loaders.get(split, None)
        dataset = loader.get("dataset", None) if loader is not None else None
        value = dataset.get("names", None) if dataset is not None else None
        if value is None:
            continue
        names.extend([value] if isinstance(value, str) else list(value))
    return names


def check_datasets_registered(names: Iterable[str]):
    """Every name must be in detectron2's DatasetCatalog."""
    from detectron2.data import DatasetCatalog

    registered = DatasetCatalog.list()
    for name in names:
        if name not in registered:
            hint = difflib.get_close_matches(name, registered, n=3)
            raise ConfigError(
                f"Dataset {name!r} is not registered."
                + (f" Did you mean: {', '.join(hint)}?" if hint else "")
                + " Register your own with detectron2's register_coco_instances(name, {}, "
                "json_file, image_root) in a module the config imports; the bundled ones are "
                "d2kd_shapes_{tiny,bench}_{train,val}."
            )


def check_output_dir(output_dir: str):
    """The output directory must be creatable and writable."""
    try:
        os.makedirs(output_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir):
            pass
    except OSError as e:
        raise ConfigError(
            f"Output directory {output_dir!r} is not writable ({e.strerror}). "
            "Pass train.output_dir=<a writable folder>."
        ) from e


FINAL_CHECKPOINT = "model_final.pth"  # what detectron2's PeriodicCheckpointer writes at the end
LAST_CHECKPOINT = "last_checkpoint"  # detectron2's file naming a folder's latest checkpoint
_MAX_LISTED = 20
STAGES_SUMMARY = "stages_summary.json"  # what a staged (SAL) run writes at its end, beside stage1/, ...
EVAL_RESULTS = "results.json"  # what --eval-only writes
_STAGE_DIR = re.compile(r"^stage\d+$")
_RUN_FILES = ("config.yaml", LAST_CHECKPOINT, FINAL_CHECKPOINT)
RUN_KINDS = {
    "plain": "a plain (one-stage) training run",
    "staged": "a staged (SAL) training run",
    "evaluation": "an --eval-only evaluation",
}
# the files each kind of training run writes at the top of its train.output_dir
_TOP_FILES = {
    "plain": ("config.yaml", "metrics.json", LAST_CHECKPOINT, FINAL_CHECKPOINT),
    "staged": ("config.yaml", STAGES_SUMMARY, FINAL_CHECKPOINT),
}


def run_folder_kind(folder: str):
    """Which kind of run ``folder`` holds, and the files that say so: ``(kind, evidence)``
    with ``kind`` one of :data:`RUN_KINDS` (``None`` and ``[]`` for a folder that holds no run).

    A staged (SAL) run: its ``stages_summary.json``, or a ``stage<k>/`` sub-folder holding
    a run's files (a run stopped before its end); a plain run: ``last_checkpoint`` or
    ``model_final.pth``; an ``--eval-only`` evaluation: ``results.json`` without checkpoints.
    """
    if not os.path.isdir(folder):
        return None, []
    names = sorted(os.listdir(folder))
    stages = [n + "/" for n in names if _STAGE_DIR.match(n)
              and any(os.path.exists(os.path.join(folder, n, f)) for f in _RUN_FILES)]
    if STAGES_SUMMARY in names or stages:
        return "staged", ([STAGES_SUMMARY] if STAGES_SUMMARY in names else []) + stages
    checkpoints = [n for n in (LAST_CHECKPOINT, FINAL_CHECKPOINT) if n in names]
    if checkpoints:
        return "plain", checkpoints
    if EVAL_RESULTS in names:
        return "evaluation", [EVAL_RESULTS]
    return None, []


def check_run_folder(output_dir: str, kind: str, resume: bool = False):
    """A training run of ``kind`` (``plain`` or ``staged``) may write into ``output_dir``.

    Refused, with a :class:`ConfigError` naming the folder, the run it holds and the fix:
    a folder that holds a run of another kind (also with ``--resume``: it would replace
    that run's config.yaml and final model), and, without ``--resume``, a folder that
    holds a plain run's checkpoints (a staged run's stage folders are checked stage by
    stage, as plain runs).
    """
    found, evidence = run_folder_kind(output_dir)
    if found is None or (found == kind and (resume or kind == "staged")):
        return
    if found == kind:  # a plain run's checkpoints, without --resume
        raise ConfigError(
            f"{output_dir!r} already holds checkpoints of a run "
            f"({', '.join(os.path.join(output_dir, n) for n in evidence)}). Pass --resume to continue it, "
            "or train.output_dir=<new folder> to start another; delete the folder to start over."
        )
    replaced = [n for n in _TOP_FILES[kind] if os.path.exists(os.path.join(output_dir, n))]
    harm = f"would replace its {', '.join(replaced)}" if replaced else "would mix its files with that run's"
    resumed = " --resume continues a run of the same kind only." if resume else ""
    raise ConfigError(
        f"{output_dir!r} already holds {RUN_KINDS[found]} ({', '.join(evidence)}): {RUN_KINDS[kind]} there "
        f"{harm}.{resumed} Pass train.output_dir=<another folder>, or delete {output_dir!r} to start over."
    )


def _folder_listing(folder: str) -> str:
    names = sorted(n + ("/" if os.path.isdir(os.path.join(folder, n)) else "") for n in os.listdir(folder))
    if not names:
        return "it is empty"
    more = f", and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return "it holds: " + ", ".join(names[:_MAX_LISTED]) + more


def resolve_init_checkpoint(path: str, key: str = "train.init_checkpoint") -> str:
    """The checkpoint file that ``key=path`` means; ``path`` itself for a file, a URL or "".

    A run's folder may be given instead of a file: its ``model_final.pth`` when the run
    finished, else the checkpoint its ``last_checkpoint`` names (detectron2's record of
    the latest one). Raises :class:`ConfigError` when the path does not exist, or when
    the folder has neither, listing what it holds (and the sub-folders that hold a
    ``model_final.pth``, e.g. the stages of a staged run).
    """
    if not path or "://" in path or os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise ConfigError(f"{key}={path!r} does not exist.")
    final = os.path.join(path, FINAL_CHECKPOINT)
    if os.path.isfile(final):
        return final
    last = os.path.join(path, LAST_CHECKPOINT)
    if os.path.isfile(last):
        with open(last) as f:
            named = f.read().strip()
        resolved = os.path.join(path, named)  # detectron2 writes a name relative to the folder
        if named and os.path.isfile(resolved):
            return resolved
        raise ConfigError(
            f"{key}={path!r} is a run folder whose {LAST_CHECKPOINT} names {named!r}, which does not "
            f"exist there ({_folder_listing(path)}). Give {key}=<a .pth file> of that folder."
        )
    finished = sorted(n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n, FINAL_CHECKPOINT)))
    hint = (f" Its sub-folder{'s' if len(finished) > 1 else ''} {', '.join(n + '/' for n in finished)} "
            f"hold{'' if len(finished) > 1 else 's'} a {FINAL_CHECKPOINT}: "
            f"{key}={os.path.join(path, finished[-1], FINAL_CHECKPOINT)}." if finished else "")
    raise ConfigError(
        f"{key}={path!r} is a folder with neither {FINAL_CHECKPOINT} (a finished run) nor "
        f"{LAST_CHECKPOINT} (detectron2's record of a run's latest checkpoint); {_folder_listing(path)}."
        f"{hint} Give {key}=<a .pth file>, or the folder of a run that saved a checkpoint."
    )


def _is_resize_shortest_edge(target) -> bool:
    from detectron2.data.transforms import ResizeShortestEdge

    if isinstance(target, str):
        from detectron2.utils.registry import locate

        try:
            target = locate(target)
        except Exception:  # an unimportable target fails at instantiate, with its own error
            return target.rsplit(".", 1)[-1] == "ResizeShortestEdge"
    return isinstance(target, type) and issubclass(target, ResizeShortestEdge)


def _short_edge_lengths(mapper) -> List[int]:
    """All ``short_edge_length`` values of the ResizeShortestEdge augmentations of a mapper
    (LazyCall nodes or already-built augmentations); empty if it has none."""
    from detectron2.data.transforms import ResizeShortestEdge

    if mapper is None:
        return []
    if OmegaConf.is_dict(mapper) or isinstance(mapper, dict):
        augmentations = mapper.get("augmentations", None)
    else:
        augmentations = getattr(mapper, "augmentations", None)
    lengths: List[int] = []
    for aug in augmentations or []:
        if isinstance(aug, ResizeShortestEdge):
            value = aug.short_edge_length
        elif (OmegaConf.is_dict(aug) or isinstance(aug, dict)) and _is_resize_shortest_edge(
            aug.get("_target_", None)
        ):
            value = aug.get("short_edge_length", None)
        else:
            continue
        if value is None:
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        lengths.extend(int(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    return lengths


def _check_one_min_input_size(cfg, where: str = ""):
    model = cfg.get("model", None)
    if not (OmegaConf.is_dict(model) or isinstance(model, dict)):
        return
    min_input_size = model.get("min_input_size", None)
    if not min_input_size:  # None or 0: the distiller does no size checks
        return
    loader = cfg.get("dataloader", None)
    train = loader.get("train", None) if loader is not None else None
    mapper = train.get("mapper", None) if train is not None else None
    lengths = _short_edge_lengths(mapper)
    if not lengths:
        return
    smallest = min(lengths)
    if int(min_input_size) > smallest:
        raise ConfigError(
            f"{where}model.min_input_size={int(min_input_size)} is larger than the smallest "
            f"training short edge, {smallest} (dataloader.train.mapper ResizeShortestEdge "
            f"short_edge_length={sorted(set(lengths))}): the distillation losses would check "
            "their kernels and levels against feature maps bigger than training gives. "
            f"Set model.min_input_size={smallest}."
        )


def check_min_input_size(cfg):
    """``model.min_input_size`` must not exceed the smallest training short edge.

    A distiller uses ``model.min_input_size`` to check each loss's pooling
    kernels and levels against the smallest feature maps of training; configs
    set it by hand beside ``dataloader.train.mapper``'s ``ResizeShortestEdge``,
    so an override of ``short_edge_length`` can leave it too large, and those
    checks too optimistic. Only ``ResizeShortestEdge`` is looked at (a later
    crop, or ``max_size`` on a very elongated image, can make inputs smaller
    still). Nothing is checked when the model has no ``min_input_size`` or the
    mapper no ``ResizeShortestEdge``. A config with ``stages`` is checked stage
    by stage, each with its own model and mapper (see
    :func:`d2kd.config.stages.stage_config`).

    Raises:
        ConfigError: naming both sizes and the override that fixes it.
    """
    stages = cfg.get("stages", None)
    if not stages:
        _check_one_min_input_size(cfg)
        return
    from .stages import stage_config, stage_name

    for index in range(len(stages)):
        _check_one_min_input_size(
            stage_config(cfg, index), f"Stage {index + 1} ({stage_name(cfg, index)}): "
        )


def num_classes_keys(node, prefix: str = "model") -> List[tuple]:
    """``(key, value)`` of every ``num_classes`` written as a whole number under ``node``
    (interpolations such as ``"${..num_classes}"`` follow the key they point to)."""
    found = []
    if OmegaConf.is_dict(node):
        for key in node.keys():
            child = node._get_node(key)
            full = f"{prefix}.{key}"
            if OmegaConf.is_config(child):
                found += num_classes_keys(child, full)
            elif key == "num_classes" and _is_number(child._value()):
                found.append((full, child._value()))
    elif OmegaConf.is_list(node):
        for i in range(len(node)):
            child = node._get_node(i)
            if OmegaConf.is_config(child):
                found += num_classes_keys(child, f"{prefix}.{i}")
    return found


def _teacher_key_prefixes(model_cfg) -> tuple:
    """``("model.teachers.", ...)``: a key of ``model_cfg`` (named ``model``) that starts with
    one of them is a teacher's (:func:`~d2kd.config.teachers.iter_teachers`)."""
    return tuple(f"{teacher.key}." for teacher in iter_teachers(model_cfg))


def check_num_classes(cfg, dataset_name: str, thing_classes: Sequence[str], where: str = "") -> List[str]:
    """Every ``num_classes`` of the student equals the number of categories of the training
    set ``dataset_name``; a teacher's may differ (feature distillation does not need the
    teacher's labels; its checkpoint is checked against its own config when it loads).

    Returns:
        one warning per teacher key that differs from the training set (the tool logs them).
    Raises:
        ConfigError: naming the key to set and the value, for too few classes (a crash at
            iteration 0), too many (a crash in evaluation) or a forgotten one (a useless AP).
    """
    wanted = len(thing_classes)
    listed = ", ".join(thing_classes[:8]) + (", ..." if wanted > 8 else "")
    of_teacher = _teacher_key_prefixes(cfg.model)
    warnings = []
    for key, value in num_classes_keys(cfg.model):
        if not _is_whole(value):
            raise ConfigError(f"{where}{key}={value!r}: give a whole number.")
        if value == wanted:
            continue
        if key.startswith(of_teacher):
            warnings.append(f"{where}{key}={value}, the training set {dataset_name!r} has {wanted} categories: "
                            "fine for feature distillation from a teacher trained on other categories; "
                            f"if it was trained on these, set {key}={wanted}.")
            continue
        raise ConfigError(
            f"{where}{key}={value}, but the training set {dataset_name!r} has {wanted} categories "
            f"({listed}). Set {key}={wanted}."
        )
    return warnings


def _split_label(split: str) -> str:
    return {"train": "training set", "test": "test set"}.get(split, f"{split} set")


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values[:8]) + (", ..." if len(values) > 8 else "")


class _SplitCategories:
    """The categories of one dataset of a split, as detectron2's MetadataCatalog knows them:
    ``thing_classes`` (names, in contiguous order) and/or the dataset's ids (the keys of
    ``thing_dataset_id_to_contiguous_id``, in contiguous order); ``json_file`` when it has one."""

    def __init__(self, split: str, name: str, metadata):
        self.split, self.name = split, name
        classes = metadata.get("thing_classes", None)
        self.classes = [str(c) for c in classes] if classes else None
        id_map = metadata.get("thing_dataset_id_to_contiguous_id", None)
        self.ids = [k for k, _ in sorted(dict(id_map).items(), key=lambda item: item[1])] if id_map else None
        self.json_file = metadata.get("json_file", None)

    @property
    def known(self) -> bool:
        return bool(self.classes or self.ids)

    @property
    def count(self) -> int:
        return len(self.classes or self.ids)

    def described(self, article: str = "the") -> str:
        """``the test set 'x' (dataloader.test.dataset.names, x.json)``"""
        origin = f"dataloader.{self.split}.dataset.names" + (f", {self.json_file}" if self.json_file else "")
        return f"{article} {_split_label(self.split)} {self.name!r} ({origin})"

    def listing(self) -> str:
        """``1 category (tree)`` or ``3 categories (id 1 tree, id 2 shrub, id 5 rock)``."""
        if self.classes and self.ids and len(self.ids) == len(self.classes):
            items = [f"id {i} {c}" for i, c in zip(self.ids, self.classes)]
        else:
            items = list(self.classes) if self.classes else [f"id {i}" for i in self.ids]
        return f"{self.count} categor{'y' if self.count == 1 else 'ies'} ({_listed(items)})"


def _same_categories(split: "_SplitCategories", reference: "_SplitCategories") -> bool:
    """Equal counts, equal names in contiguous order where both have names, else equal ids
    (ids alone may differ: the contiguous class i is the i-th name in every split)."""
    if split.count != reference.count:
        return False
    if split.classes and reference.classes:
        return split.classes == reference.classes
    if split.ids and reference.ids:
        return split.ids == reference.ids
    return True


def check_split_categories(cfg, splits: Sequence[tuple], where: str = "") -> tuple:
    """Every split's categories agree with the model and with the training set, before training.

    A COCO json's ``categories`` make detectron2's contiguous classes (the i-th category
    by id is class i); the model predicts classes of the training set, and the evaluator
    maps them back through the test set's own ``categories``. A test json with fewer
    categories than the model fails evaluation after the whole training ("A prediction has
    class=2, but the dataset only has 1 classes"); one with other names, or more, scores
    each class under another's name. So every split must list the training json's
    categories (the same names in the same id order; a category without annotations stays
    listed).

    Args:
        cfg: the config; ``num_classes`` keys of the student (not of its teachers) are read.
        splits: ``(split, dataset name)`` pairs, e.g. ``[("train", "trees_train"), ("test",
            "trees_val")]``; the first known ``"train"`` dataset is the reference (checked
            by :func:`check_num_classes`), without one (``--eval-only``) each dataset is
            checked against the model's ``num_classes``.
        where: a prefix for the messages (a stage).
    Returns:
        ``(complete, warnings)``: ``complete`` is False when a dataset's categories are not
        known yet (a COCO json's are known once it was read: call again then); ``warnings``
        of :func:`check_num_classes` (a teacher's class count).
    Raises:
        ConfigError: naming the split, its file and the fix.
    """
    from detectron2.data import MetadataCatalog

    found = [_SplitCategories(split, name, MetadataCatalog.get(name)) for split, name in splits]
    known = [s for s in found if s.known]
    complete = len(known) == len(found)
    warnings: List[str] = []
    reference = next((s for s in known if s.split == "train"), None)
    if reference is not None:
        if reference.classes:
            warnings = check_num_classes(cfg, reference.name, reference.classes, where)
    of_teacher = _teacher_key_prefixes(cfg.model)
    model_keys = [(k, v) for k, v in num_classes_keys(cfg.model) if not k.startswith(of_teacher) and _is_whole(v)]
    for split in known:
        if split is reference:
            continue
        if reference is not None:
            if _same_categories(split, reference):
                continue
            keys = " and ".join(f"{k}={v}" for k, v in model_keys)
            target = split.json_file or f"the json of {split.name!r}"
            source = reference.json_file or f"the json of {reference.name!r}"
            raise ConfigError(
                f"{where}{split.described('The')} has {split.listing()}, but "
                f"{reference.described()} has {reference.listing()}"
                + (f", which the model predicts ({keys})" if keys else "")
                + ": its evaluation would fail after training, or score each class under another's name. "
                f"Every split lists the training json's categories: copy the \"categories\" of {source} "
                f"into {target} (the same ids and names; a category without annotations stays listed)."
            )
        for key, value in model_keys:
            if value == split.count:
                continue
            target = split.json_file or f"the json of {split.name!r}"
            raise ConfigError(
                f"{where}{key}={value}, but {split.described()} has {split.listing()}: its evaluation would "
                f"fail, or score each class under another's name. Give {target} the \"categories\" of the "
                f"json the model was trained on (the same ids and names; a category without annotations "
                f"stays listed), or set {key}={split.count} if the model was trained with those."
            )
    return complete, warnings
