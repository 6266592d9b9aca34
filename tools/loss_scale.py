#!/usr/bin/env python
"""How large each distillation loss is next to the detection loss, before training.

Builds a distillation config's model (its teachers with their checkpoints, the
student from ``train.init_checkpoint`` if one is set, else freshly initialised, and
the modules of ``model.inherit`` copied from the teacher, as training starts),
runs the training forward on ``--iters`` batches of the config's *training*
loader without updating anything, and prints the mean of every loss, each
distillation loss's share of the detection loss, and the factor that would make
the distillation total equal ``--target`` times the detection total: with the
config keys it applies to (every distillation loss's outer weight,
``model.distill_losses.<i>.weight``), their current and suggested values, and the
overrides to paste.

A loss weight suited to one dataset and feature scale is rarely suited to
another (sum-reduced masked losses grow with C x H x W, feature MSE with the
teacher's feature magnitude): run this on your own data and teachers before a
long training. Only the training split is read. A config with SAL ``stages`` is
measured at its first stage (where its training starts: that stage's teacher and
mapper) unless ``--stage`` names another. The training tool applies the same rule by
itself with ``+train.distill_weight_target=<target>`` (d2kd.engine.weight_rule).

    python tools/loss_scale.py --config-file configs/baselines/mgd_R18w64_to_R18_faster_rcnn.py \\
        model.teachers.weights=output/teachers/faster_rcnn_R18w64_FPN/model_final.pth
"""
import argparse
import os
import sys
from typing import List

import torch

from d2kd.engine.weight_rule import loss_records, summarize, take


def weight_keys(cfg, stage: int = 1) -> List[tuple]:
    """The outer weight of every distillation loss of ``cfg`` as config keys to override:
    ``[(key, current value), ...]``, e.g. ``("model.distill_losses.0.weight", 1.1e-4)``.

    Every loss class calls its outer weight ``weight``; a loss that does not set it in the
    config has its class's default, and one that sets it under a deprecated old name
    (``renamed_arguments``, e.g. MKD's ``alpha``) is named by that key, the one its config
    sets (an override of ``weight`` beside it would give both). In a config with
    SAL ``stages`` (measured at ``stage``, 1-based) the key is the stage's own
    (``stages.<k>.model.distill_losses...``) where that stage sets its losses, else the
    top-level one, which every stage that does not set its own uses.
    """
    import inspect

    from detectron2.utils.registry import locate
    from omegaconf import DictConfig

    from d2kd.losses.base import DistillLoss

    measured, _ = measured_config(cfg, stage)
    prefix = "model.distill_losses"
    if "stages" in cfg:
        own = cfg.stages[stage - 1].get("model", None)
        if isinstance(own, DictConfig) and ("_target_" in own or "distill_losses" in own):
            prefix = f"stages.{stage - 1}.model.distill_losses"
    losses = measured.model.get("distill_losses", None) or []
    items = losses.items() if isinstance(losses, (dict, DictConfig)) else enumerate(losses)
    found = []
    for index, node in items:
        target = node.get("_target_", None) if isinstance(node, (dict, DictConfig)) else None
        target = locate(target) if isinstance(target, str) else target
        renamed = getattr(target, "renamed_arguments", DistillLoss.renamed_arguments)
        key = next((old for old, new in renamed.items() if new == "weight" and old in node), "weight")
        if key in node:
            value = node[key]
        else:
            parameter = inspect.signature(target).parameters.get(key) if callable(target) else None
            value = None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default
        found.append((f"{prefix}.{index}.{key}", value))
    return found


def format_weights(weights, scale: float) -> str:
    """The lines naming each distillation weight key, its current value and ``scale`` x it,
    then the same as overrides to paste after the tool's arguments."""
    lines = ["The distillation weights (current -> suggested):"]
    overrides = []
    for key, value in weights:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            suggested = f"{value * scale:.3g}"
            lines.append(f"  {key}: {value:.3g} -> {suggested}")
            overrides.append(f"{key}={suggested}")
        else:
            lines.append(f"  {key}: {value!r} (not a number: multiply it by {scale:.3g} yourself)")
    if overrides:
        lines.append("As overrides: " + " ".join(overrides))
    return "\n".join(lines)


def format_report(summary: dict, distill_keys, target: float, weights=()) -> str:
    """The table of the measured losses and the suggested scale; ``weights`` (from
    :func:`weight_keys`) adds the keys to set, with their current and suggested values."""
    lines = ["| loss | mean | share of detection loss |", "|---|---|---|"]
    detection = summary["detection"]
    for key, value in sorted(summary["means"].items(), key=lambda kv: (kv[0] in distill_keys, kv[0])):
        share = f"{value / detection:.3f}" if key in distill_keys and detection else ""
        lines.append(f"| {key} | {value:.4g} | {share} |")
    lines.append(f"| detection total | {detection:.4g} | |")
    lines.append(f"| distillation total | {summary['distillation']:.4g} | {summary['ratio']:.3f} |")
    if summary.get("batch_ratios"):
        low, median, high = summary["batch_ratios"]
        lines.append("")
        lines.append(f"Per batch, distillation / detection: min {low:.3g}, median {median:.3g}, max {high:.3g} "
                     "(if they differ widely, average over more batches: --iters).")
    if summary.get("relative_se") is not None:
        lines.append(f"Standard error of the mean per-batch ratio: {100 * summary['relative_se']:.1f}% of it "
                     "(the measured ratio is stable to about this much; more --iters shrink it).")
    if summary["scale"] is not None:
        lines.append("")
        lines.append(
            f"Multiply every distillation weight by {summary['scale']:.3g} for a distillation "
            f"total of {target:g} x the detection total at this point of training."
        )
        if weights:
            lines.append(format_weights(weights, summary["scale"]))
    return "\n".join(lines)


def measure(cfg, iters: int) -> tuple:
    """Loss values of ``iters`` training batches; returns (records, distillation loss names)."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import instantiate
    from detectron2.utils.events import EventStorage

    from d2kd.utils.env import resolve_device

    device = resolve_device(cfg.train.get("device", None))
    model = instantiate(cfg.model).to(device)
    if cfg.train.get("init_checkpoint", ""):
        DetectionCheckpointer(model).load(cfg.train.init_checkpoint)
    if not hasattr(model, "distill_losses"):
        raise SystemExit(f"{type(model).__name__} is not a distillation model (no distill_losses)")
    model.inherit_from_teacher()  # model.inherit: the student starts training with these weights
    model.train()
    loader = iter(instantiate(cfg.dataloader.train))
    with EventStorage(), torch.no_grad():
        # the student alone on the first batch: kept, so that the reports in docs/results/loss_scale
        # are reproduced batch for batch by their commands
        model.student(next(loader))
    return loss_records(model, take(loader, iters))


def measured_config(cfg, stage: int):
    """The config to measure: SAL stage ``stage`` (1-based) of a staged config, else ``cfg``.

    Returns ``(config, description)``; the description names the stage (empty without
    stages). A stage out of range, or ``stage != 1`` for a config without stages, is a
    ConfigError.
    """
    from d2kd.config import ConfigError
    from d2kd.config.stages import stage_config

    if "stages" not in cfg:
        if stage != 1:
            raise ConfigError(f"--stage {stage} given, but the config declares no SAL stages")
        return cfg, ""
    if not 1 <= stage <= len(cfg.stages):
        raise ConfigError(f"--stage {stage} is out of range: the config has {len(cfg.stages)} stages")
    return stage_config(cfg, stage - 1), f" (SAL stage {stage} of {len(cfg.stages)})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--iters", type=int, default=5, help="training batches to average over")
    parser.add_argument("--target", type=float, default=1.0,
                        help="wanted distillation total / detection total (for the suggested scale)")
    parser.add_argument("--stage", type=int, default=1,
                        help="a config with SAL stages: the 1-based stage to measure (default 1, where training "
                             "starts)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    args = parser.parse_args(argv)

    from d2kd.config import ConfigError, load_tool_config

    from d2kd.config.stages import stage_key
    from d2kd.engine.checks import check_teacher_weights

    try:
        full = load_tool_config(args.config_file, args.opts)
        cfg, where = measured_config(full, args.stage)
        weights = weight_keys(full, args.stage)
        # every teacher's weights file, named by its key as the user sets it (stages.0.… for a
        # SAL config's first stage)
        check_teacher_weights(cfg.model, name_key=(lambda key: stage_key(full, args.stage - 1, key))
                              if "stages" in full else (lambda key: key))
    except ConfigError as e:
        sys.exit(f"Config error: {e}")
    torch.manual_seed(cfg.train.get("seed", 0))
    records, distill_keys = measure(cfg, args.iters)
    summary = summarize(records, distill_keys, args.target)
    print(f"{os.path.relpath(args.config_file)}{where}: mean over {args.iters} training batches\n")
    print(format_report(summary, distill_keys, args.target, weights))
    if "stages" in full and summary["scale"] is not None and any(k.startswith("model.") for k, _ in weights):
        print("(A model.* key sets the losses of every SAL stage that does not set its own.)")
    return summary


if __name__ == "__main__":
    main()
