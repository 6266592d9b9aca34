"""Cache the weaker teacher's detections over a training set, for DFMSD's masking enhancement.

Run as ``python -m dfmsd.cache_boxes`` (formerly ``tools/cache_teacher_boxes.py``,
which now forwards here).

DFMSD (eq. 4) decides, per image, between cropping and noise from Area(x), the
summed area of the candidate boxes that the previous stage's (weaker) teacher
detects. This tool runs that teacher once over the training set and writes the
boxes (with their scores, above ``--score-threshold``) to a JSON cache that
``dfmsd.MaskingEnhancementMapper(box_cache=...)`` reads (format:
:mod:`dfmsd.box_cache`).

Which teacher: with a config that declares ``stages``, the teacher of stage
``--stage`` (1-based, default 1, the weaker one: its checkpoint is
``stages.0.model.teachers.weights`` in the DFMSD configs); without stages, the
teacher of ``model.teachers``, or a plain detector ``model`` with weights
``train.init_checkpoint``. Which images: ``--dataset``, default the training
set of the first later stage whose mapper has a ``box_cache`` (else of the
chosen stage), i.e. ``dataloader.train.dataset.names`` as configured.

Where: ``--output``, default ``<folder>/<teacher>_<datasets>.json``: the folder
of that mapper's ``box_cache`` (``output/DFMSD/box_cache/`` in the shipped
configs: a cache belongs to a teacher and a training set, not to one run, so it
sits outside the run folders, and every run with that teacher and data reuses
it), ``<teacher>`` the name of the teacher's run folder (the checkpoint's file
name for a checkpoint outside a run folder) and ``<datasets>`` the training set's
names, joined by ``+``. For a shipped config on the bundled dataset this is the
path its mapper reads. On other data (``dataloader.train.dataset.names=trees_train``)
the run must be pointed at the cache: the tool ends by printing the override to
pass to the run, e.g. ``dataloader.train.mapper.box_cache=output/DFMSD/box_cache/weak_teacher_trees_train.json``.

Resumable: the cache is written atomically every ``--save-every`` images;
running the same command again continues where it stopped, and does nothing
when the cache is complete. Images are run at the config's test-time size;
boxes are stored in original-image pixels.

Example::

    python -m dfmsd.cache_boxes \\
        --config-file projects/DFMSD/configs/Shapes/dfmsd_R34_R50_to_R18_retinanet.py
"""
import argparse
import functools
import logging
import os
import re
import sys

import torch
import tqdm

from d2kd.config import ConfigError, load_tool_config, resolve_init_checkpoint
from d2kd.config.stages import stage_key
from d2kd.config.teachers import iter_teachers
from d2kd.engine.build import build_model
from d2kd.engine.stages import stage_config
from d2kd.modeling import Teacher, WeightsError
from d2kd.utils.env import resolve_device
from d2kd.utils.io import file_sha256
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog
from detectron2.utils.logger import setup_logger
from .box_cache import BoxCache, image_key, new_cache, write_cache

logger = logging.getLogger(__name__)


def parse_args(argv=None, prog="python -m dfmsd.cache_boxes"):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="lazy config (a DFMSD config with stages)")
    parser.add_argument("--stage", type=int, default=1, help="1-based stage whose teacher runs (default 1)")
    parser.add_argument("--teacher", default=None, help="teacher name when the model has several")
    parser.add_argument("--output", default=None,
                        help="cache file (default: <folder of the ME mapper's box_cache>/<teacher>_<datasets>.json, "
                             "see above)")
    parser.add_argument("--dataset", nargs="+", default=None,
                        help="dataset names (default: the ME stage's); key=value overrides may follow them")
    parser.add_argument("--score-threshold", type=float, default=0.3, help="keep boxes with at least this score")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--save-every", type=int, default=200, help="write the cache every N images")
    parser.add_argument("--overwrite", action="store_true", help="start over when the cache's settings differ")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="key=value config overrides")
    args = parser.parse_args(argv)
    if args.dataset is not None:
        args.dataset, args.opts = _split_dataset_and_overrides(parser, args.dataset, args.opts)
    return args


def _split_dataset_and_overrides(parser, values, opts):
    """``--dataset`` takes one or more values, so argparse gives it the ``key=value``
    overrides that follow the names too (``--dataset trees_train model.x=1``). A
    dataset name holds no ``=``: the values from the first one that does are
    overrides, put before those argparse found later (the command line's order)."""
    first = next((i for i, v in enumerate(values) if "=" in v), len(values))
    names, overrides = values[:first], values[first:]
    if not names:
        parser.error(f"--dataset needs at least one dataset name before the key=value overrides "
                     f"(got {' '.join(values)})")
    stray = [v for v in overrides if "=" not in v]
    if stray:
        parser.error(f"--dataset: {stray[0]!r} comes after the override {overrides[0]!r}; give the dataset "
                     "names right after --dataset and the key=value overrides after all of them")
    return names, overrides + list(opts)


def _resolved_config(cfg, stage: int):
    """The config the teacher comes from (the stage's, when the config has stages)."""
    if "stages" not in cfg:
        return cfg
    if not 1 <= stage <= len(cfg.stages):
        raise ConfigError(f"--stage {stage} is out of range: the config has {len(cfg.stages)} stages")
    return stage_config(cfg, stage - 1)


BOX_CACHE_KEY = "dataloader.train.mapper.box_cache"


def _me_target(cfg, stage: int):
    """(box_cache, dataset names, the config key of that box_cache as the user sets it) of the
    first stage after ``stage`` whose train mapper reads a box_cache (one with ``enhance=False``
    reads none); Nones when none does."""
    if "stages" not in cfg:
        candidates = [(cfg, BOX_CACHE_KEY)]
    else:
        candidates = [(stage_config(cfg, i), stage_key(cfg, i, BOX_CACHE_KEY)) for i in range(stage, len(cfg.stages))]
    for scfg, key in candidates:
        mapper = scfg.dataloader.train.get("mapper", None)
        if mapper is not None and mapper.get("box_cache", None) and mapper.get("enhance", True):
            return mapper.box_cache, scfg.dataloader.train.dataset.names, key
    return None, None, None


def _as_list(names) -> list:
    return [names] if isinstance(names, str) else list(names)


def _teacher_name(weights: str) -> str:
    """A teacher checkpoint's name for file names: its run folder's
    (``output/teachers/faster_rcnn_R34_FPN/model_final.pth`` -> ``faster_rcnn_R34_FPN``),
    or the file's own for a checkpoint outside a run folder (``weak.pth`` -> ``weak``)."""
    folder, name = os.path.split(os.path.abspath(weights))
    is_run_checkpoint = re.fullmatch(r"model_(final|\d+)\.pth", name) is not None
    return os.path.basename(folder) if is_run_checkpoint and os.path.basename(folder) else os.path.splitext(name)[0]


def default_output(config_box_cache: str, teacher_weights: str, datasets) -> str:
    """``<folder of the config's box_cache>/<teacher>_<datasets joined by +>.json``: the cache
    file named after the teacher that makes it and the training set it covers (for the
    shipped configs on the bundled data, the path their mapper reads)."""
    folder = os.path.dirname(config_box_cache)
    return os.path.join(folder, f"{_teacher_name(teacher_weights)}_{'+'.join(datasets)}.json")


def build_teacher_model(cfg, teacher_name=None, name_key=lambda key: key):
    """The teacher detector (eval mode, weights loaded) and a description of where it came from.

    Args:
        cfg: the config of the teacher's stage.
        name_key: how the user spells a key of ``cfg`` in messages (a SAL stage's:
            :func:`d2kd.config.stages.stage_key`, e.g. ``stages.0.model.teachers.weights``).
    """
    model_cfg = cfg.model
    teachers = iter_teachers(model_cfg)
    if not teachers:  # a plain detector config: its model with train.init_checkpoint
        weights = cfg.train.get("init_checkpoint", "")
        if weights and os.path.isdir(weights):  # a run's folder: its model_final.pth or latest checkpoint
            weights = resolve_init_checkpoint(weights)
        if not weights or not os.path.isfile(weights):
            raise ConfigError(
                f"The config has no model.teachers; its model would need train.init_checkpoint "
                f"(got {weights!r}). Pass a DFMSD config, or train.init_checkpoint=<teacher.pth>."
            )
        model = instantiate(model_cfg)
        DetectionCheckpointer(model).load(weights)
        return model.eval(), {"weights": weights}
    key, _, node = teachers[0]
    if teachers[0].name is not None:  # a dict name -> teacher
        names = [t.name for t in teachers]
        if teacher_name is None and len(names) > 1:
            raise ConfigError(f"The model has teachers {names}; choose one with --teacher")
        key, _, node = {t.name: t for t in teachers}[teacher_name or names[0]]
    _check_teacher_weights_file(node.get("weights", ""), name_key(f"{key}.weights"))
    try:
        teacher = build_model(node, key, name_key=name_key)
    except ConfigError as e:
        raise ConfigError(_teacher_mismatch_message(e, name_key(f"{key}.model"))) from e
    if not isinstance(teacher, Teacher):
        raise ConfigError(f"{key} must be a d2kd Teacher, got {type(teacher).__name__}")
    return teacher.model.eval(), {"weights": teacher.weights}


def _check_teacher_weights_file(weights, weights_key: str) -> None:
    """The teacher's checkpoint must exist: the boxes of a teacher are those of its trained weights."""
    if not weights or not os.path.isfile(str(weights)):
        raise ConfigError(
            f"Teacher weights {weights_key}={str(weights or '')!r} do not exist. Train that teacher first "
            f"with its own config (python tools/lazyconfig_train_net.py --config-file <its config>; see the "
            f"DFMSD config's docstring) and pass {weights_key}=<its model_final.pth>."
        )


def _teacher_mismatch_message(error: ConfigError, model_key: str) -> str:
    """The build error of a teacher whose checkpoint does not fit its config. A class count that
    differs, or a distillation run's checkpoint, keeps its message (it names the key to set);
    any other mismatch asks for the teacher's own model config, never for
    ``allow_partial_weights``: the boxes of a half-loaded teacher come from random layers."""
    weights = error.__cause__ if isinstance(error.__cause__, WeightsError) else None
    if weights is None or weights.file_num_classes is not None or weights.from_distillation:
        return str(error)
    return (f"{weights.summary or weights} The boxes must come from the teacher as it was trained: set "
            f"{model_key} to the model config its checkpoint was trained with (allow_partial_weights=True "
            "would leave the mismatched layers random, and cache their boxes).")


def _with_hash(teacher_info: dict) -> dict:
    """``teacher_info`` with the sha256 of its weights file (the DFMSD mapper compares it
    with the teacher its config names)."""
    weights = teacher_info.get("weights", "")
    if weights and os.path.isfile(weights):
        return dict(teacher_info, sha256=file_sha256(weights))
    return dict(teacher_info)


def _open_cache(path, datasets, num_images, threshold, teacher_info, overwrite):
    """The cache document to continue (resume) or a new one."""
    if os.path.isfile(path):
        cache = BoxCache.load(path)
        same = (
            cache.datasets == list(datasets)
            and abs(cache.score_threshold - threshold) < 1e-12
            and cache.document.get("teacher", {}).get("weights") == teacher_info.get("weights")
            and cache.teacher_sha256 == teacher_info.get("sha256")  # a teacher retrained at the same path
        )
        if same:
            return cache.document
        if not overwrite:
            raise ConfigError(
                f"{path} holds a cache made with other settings (datasets {cache.datasets}, "
                f"score threshold {cache.score_threshold}, teacher {cache.document.get('teacher')}). "
                "Pass --overwrite to replace it, or --output <another file>."
            )
        logger.info("Replacing %s (other settings, --overwrite)", path)
    return new_cache(datasets, num_images, threshold, teacher_info)


def _detections(outputs, threshold):
    instances = outputs["instances"].to("cpu")
    keep = instances.scores >= threshold
    return instances.pred_boxes.tensor[keep].tolist(), instances.scores[keep].tolist()


def _what_to_cache(cfg, scfg, args):
    """(the box_cache its ME mapper reads, the datasets to cache, the key that points the run
    at this cache: None when it caches other images than that mapper's training set)."""
    config_cache, default_datasets, cache_key = _me_target(cfg, args.stage)
    if not args.output and not config_cache:
        raise ConfigError("No stage after --stage has a mapper with box_cache; pass --output <cache.json>")
    datasets = _as_list(args.dataset or default_datasets or scfg.dataloader.train.dataset.names)
    covers_the_run = default_datasets is not None and datasets == _as_list(default_datasets)
    return config_cache, datasets, cache_key if covers_the_run else None


def main(args) -> int:
    """Run the teacher over the images missing from the cache; returns how many it ran on."""
    if not 0 <= args.score_threshold <= 1:
        raise ConfigError(f"--score-threshold must be in [0, 1], got {args.score_threshold}")
    if args.batch_size < 1 or args.save_every < 1:
        raise ConfigError("--batch-size and --save-every must be >= 1")
    cfg = load_tool_config(args.config_file, args.opts)
    scfg = _resolved_config(cfg, args.stage)
    config_cache, datasets, run_key = _what_to_cache(cfg, scfg, args)
    records = [r for name in datasets for r in DatasetCatalog.get(name)]
    keys = [image_key(r) for r in records]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"Images of {datasets} share cache keys (image ids); cache each dataset separately")
    name_key = functools.partial(stage_key, cfg, args.stage - 1) if "stages" in cfg else (lambda key: key)
    model, teacher_info = build_teacher_model(scfg, args.teacher, name_key)
    output = args.output or default_output(config_cache, teacher_info["weights"], datasets)
    teacher_info = _with_hash(dict(teacher_info, config=os.path.abspath(args.config_file)))
    document = _open_cache(output, datasets, len(records), args.score_threshold, teacher_info, args.overwrite)
    todo = [r for r in records if image_key(r) not in document["images"]]
    if not todo and document.get("complete"):
        logger.info("%s is complete (%d images); nothing to do", output, len(records))
        _tell_where_the_run_reads(output, config_cache, run_key)
        return 0

    device = resolve_device(scfg.train.get("device", None))
    model.to(device)
    mapper = instantiate(scfg.dataloader.test.mapper)
    flip = getattr(mapper, "image_format", "BGR") != getattr(model, "input_format", "BGR")
    logger.info(
        "Caching boxes (score >= %s) of %s over %s: %d of %d images to do -> %s",
        args.score_threshold, teacher_info["weights"], datasets, len(todo), len(records), output,
    )
    done_since_save = 0
    with torch.no_grad(), tqdm.tqdm(total=len(records), initial=len(records) - len(todo), unit="img") as bar:
        for start in range(0, len(todo), args.batch_size):
            batch = todo[start : start + args.batch_size]
            inputs = [mapper(dict(r)) for r in batch]
            if flip:
                inputs = [dict(x, image=x["image"].flip(0)) for x in inputs]
            for record, outputs in zip(batch, model(inputs)):
                boxes, scores = _detections(outputs, args.score_threshold)
                document["images"][image_key(record)] = {
                    "file_name": os.path.basename(record["file_name"]),
                    "height": record["height"],
                    "width": record["width"],
                    "boxes": [[round(v, 2) for v in box] for box in boxes],
                    "scores": [round(s, 4) for s in scores],
                }
            bar.update(len(batch))
            done_since_save += len(batch)
            if done_since_save >= args.save_every:
                write_cache(output, document)
                done_since_save = 0
    document["complete"] = True
    write_cache(output, document)
    logger.info("Wrote %s (%d images)", output, len(document["images"]))
    _tell_where_the_run_reads(output, config_cache, run_key)
    return len(todo)


def _tell_where_the_run_reads(output: str, config_cache, cache_key) -> None:
    """Print the override ``cache_key=output`` that points the run at the cache when its
    config reads another file (a cache named after the data actually configured, e.g. one's
    own); nothing without a key (a cache of other images than the run trains on)."""
    if config_cache and cache_key and os.path.abspath(output) != os.path.abspath(config_cache):
        print(f"The config reads the box cache {cache_key}={config_cache}; pass this override to the "
              f"DFMSD run (and to tools/loss_scale.py, python -m dfmsd.visualize):\n  {cache_key}={output}")


def cli(argv=None, prog="python -m dfmsd.cache_boxes"):
    setup_logger(name="d2kd")
    setup_logger(name="detectron2")
    setup_logger(name="dfmsd")
    args = parse_args(argv, prog)
    try:
        main(args)
    except (ConfigError, ValueError) as e:
        sys.exit(f"Error: {e}")


if __name__ == "__main__":
    cli()
