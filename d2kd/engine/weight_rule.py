"""The one weight rule, measured where a run starts, and applied by the tool itself.

The rule every shipped distillation config follows: where the student starts training,
the distillation losses together are ``target`` times the detection loss (0.1 in the
project's configs). :func:`summarize` measures it from the training forward's loss
dicts; ``tools/loss_scale.py`` prints the factor for the user to set by hand, and the
:class:`DistillWeightRule` hook (config key ``train.distill_weight_target``) applies it
at the start of training: it multiplies every distillation loss's outer ``weight`` by
that factor, so the run is the run one would get with the factor written into the config.
"""
import contextlib
import logging
import math
import os
from collections import defaultdict
from typing import Callable, Dict, Iterable, Iterator, List, Tuple

import torch

from detectron2.engine import HookBase
from detectron2.modeling.meta_arch.dense_detector import DenseDetector
from detectron2.utils import comm
from detectron2.utils.events import EventStorage

from ..config import ConfigError
from .hooks import unwrap_model
from .resume import rng_states_kept

__all__ = [
    "DEFAULT_RULE_BATCHES",
    "WEIGHT_RULE_CHECKPOINTABLE",
    "WeightRuleError",
    "check_rule_resume",
    "checkpointed_rule",
    "DistillWeightRule",
    "loss_records",
    "summarize",
    "take",
    "training_state_kept",
    "weight_rule_settings",
]

logger = logging.getLogger("detectron2")

DEFAULT_RULE_BATCHES = 50  # train.distill_weight_batches when absent
WEIGHT_RULE_CHECKPOINTABLE = "distill_weight_rule"  # the factor's key in a checkpoint
LOSS_NORMALIZER = "loss_normalizer"  # RetinaNet's running foreground count (an attribute)
_ABSENT = object()


class WeightRuleError(ValueError):
    """The rule cannot be applied to this run (raised before its first iteration)."""


def loss_records(model, batches: Iterable[list], amp: bool = False) -> Tuple[List[Dict[str, float]], set]:
    """The training forward of the distillation ``model`` on each batch, without a gradient
    and without touching the caller's event storage: ``(records, distillation keys)``, one
    record ``{loss name: value}`` per batch; the rest of a record's keys are the student's
    detection losses (:attr:`DistillationDetector.student_loss_keys`). ``amp``: under CUDA
    autocast, as detectron2's AMPTrainer runs the training forward."""
    records, distill_keys = [], set()
    model.train()
    autocast = torch.autocast("cuda", enabled=True) if amp else contextlib.nullcontext()
    with EventStorage(), torch.no_grad(), autocast:
        for batch in batches:
            losses = model(batch)
            records.append({k: float(v) for k, v in losses.items()})
            distill_keys |= set(losses) - set(model.student_loss_keys)
    return records, distill_keys


def summarize(records: List[Dict[str, float]], distill_keys, target: float) -> dict:
    """Mean of each loss over ``records`` and the weight scale that hits ``target``.

    Args:
        records: one dict ``loss name -> value`` per batch.
        distill_keys: names of the distillation losses (the rest are detection losses).
        target: wanted ratio distillation total / detection total.

    Returns:
        dict with ``means`` (name -> mean), ``detection`` and ``distillation`` totals,
        ``ratio`` (distillation / detection), ``scale`` (the factor to multiply
        every distillation weight by so that the ratio becomes ``target``; None when
        the distillation total is 0) and ``batch_ratios`` (min, median, max over the
        batches of each batch's own ratio; None without a detection loss) and
        ``relative_se`` (the standard error of the mean of those per-batch ratios over
        that mean: how stable the measured ratio is; None under two batches).
    """
    sums = defaultdict(float)
    for record in records:
        for key, value in record.items():
            sums[key] += value
    means = {k: v / len(records) for k, v in sums.items()}
    detection = sum(v for k, v in means.items() if k not in distill_keys)
    distillation = sum(v for k, v in means.items() if k in distill_keys)
    ratio = distillation / detection if detection else float("inf")
    scale = target * detection / distillation if distillation else None
    per_batch = sorted(
        sum(v for k, v in r.items() if k in distill_keys) / sum(v for k, v in r.items() if k not in distill_keys)
        for r in records if any(v for k, v in r.items() if k not in distill_keys)
    )
    spread = (per_batch[0], per_batch[len(per_batch) // 2], per_batch[-1]) if per_batch else None
    relative_se = None
    if len(per_batch) >= 2:
        mean = sum(per_batch) / len(per_batch)
        variance = sum((r - mean) ** 2 for r in per_batch) / (len(per_batch) - 1)
        relative_se = (variance / len(per_batch)) ** 0.5 / mean if mean else None
    return dict(means=means, detection=detection, distillation=distillation, ratio=ratio, scale=scale,
                batch_ratios=spread, relative_se=relative_se)


def weight_rule_settings(cfg, model=None):
    """``(target, batches)`` of ``train.distill_weight_target`` / ``train.distill_weight_batches``,
    checked before training; ``None`` when the rule is off (the key absent or ``None``).
    ``model``, when given, must be a distillation model."""
    train = cfg.train
    target = train.get("distill_weight_target", None)
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < math.inf:
        raise ConfigError(
            f"train.distill_weight_target={target!r}: give the wanted distillation total as a "
            "multiple of the detection total at the run's start (> 0; the project's configs use 0.1), "
            "or None to keep the configured weights"
        )
    batches = train.get("distill_weight_batches", DEFAULT_RULE_BATCHES)
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise ConfigError(f"train.distill_weight_batches={batches!r}: give a whole number of training "
                          f"batches >= 1 (default {DEFAULT_RULE_BATCHES})")
    if model is not None and not hasattr(unwrap_model(model), "distill_losses"):
        raise ConfigError(
            f"train.distill_weight_target={target} scales distillation losses, but the model is a plain "
            f"{type(unwrap_model(model)).__name__}; remove the key"
        )
    return float(target), batches


@contextlib.contextmanager
def training_state_kept(model):
    """``model``'s buffers (BatchNorm running statistics and counters) and its dense detectors'
    running loss normalizers leave the block as they entered it: training forwards made
    only to measure leave no trace in the run."""
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    # detectron2 creates the attribute at a detector's first training forward: absent is a state too
    dense = [m for m in model.modules() if isinstance(m, DenseDetector)]
    normalizers = [m.__dict__.get(LOSS_NORMALIZER, _ABSENT) for m in dense]
    try:
        yield
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for module, value in zip(dense, normalizers):
            if value is _ABSENT:
                module.__dict__.pop(LOSS_NORMALIZER, None)
            else:
                setattr(module, LOSS_NORMALIZER, value)


def checkpointed_rule(output_dir: str):
    """The weight rule's state in the checkpoint ``--resume`` would load from ``output_dir``
    (detectron2's ``last_checkpoint``): ``None`` when there is no checkpoint, ``{}`` when it
    holds no factor, else ``{"factor", "target", "batches"}``."""
    pointer = os.path.join(output_dir, "last_checkpoint")
    if not os.path.isfile(pointer):
        return None
    with open(pointer) as f:
        path = os.path.join(output_dir, f.read().strip())
    if not os.path.isfile(path):
        return None
    # memory-mapped: only the small entry is read, not the weights the checkpointer loads later
    return torch.load(path, map_location="cpu", weights_only=False, mmap=True).get(WEIGHT_RULE_CHECKPOINTABLE, {})


def check_rule_resume(cfg, resume: bool) -> None:
    """With ``--resume``, the rule's settings must be those the checkpoint's factor was measured
    with (and the checkpoint must hold one when the rule is set, or none when it is not): a
    ConfigError naming the settings to resume with, before anything is written."""
    if not resume:
        return
    stored = checkpointed_rule(cfg.train.output_dir)
    if stored is None:
        return
    rule = weight_rule_settings(cfg)
    if rule is not None and not stored:
        raise ConfigError(
            f"train.distill_weight_target={rule[0]:g} is set, but {cfg.train.output_dir} is a run that started "
            "without it (its checkpoint has no measured factor): measuring now would change its weights "
            "part-way. Resume without train.distill_weight_target, or start a new run with it."
        )
    if stored and (rule is None or rule != (stored.get("target"), stored.get("batches"))):
        raise ConfigError(
            f"{cfg.train.output_dir} started with train.distill_weight_target={stored.get('target'):g} and "
            f"distill_weight_batches={stored.get('batches')} (factor {stored['factor']:.4g}); resume with those "
            f"(+train.distill_weight_target={stored.get('target'):g} "
            f"+train.distill_weight_batches={stored.get('batches')}), not "
            + ("without them" if rule is None else f"with {rule[0]:g} and {rule[1]}")
        )


def take(loader: Iterator, count: int) -> Iterator[list]:
    """The next ``count`` batches of ``loader``."""
    for _ in range(count):
        yield next(loader)


class DistillWeightRule(HookBase):
    """Applies the weight rule where training starts (``before_train``).

    Register it after every hook that sets the starting weights (the checkpointer's load,
    ``model.inherit``, a SAL stage's hand-off): it measures the losses of the model as it
    will start training (before ``model.distill_schedule``'s factor), over ``batches``
    batches of a loader of its own (``make_loader()``; the training stream is not
    touched), leaving the random number generators and the model's running statistics
    (:func:`training_state_kept`) as it found them, gathers the
    records of every process, and multiplies the ``weight`` of every distillation loss by
    ``target * detection / distillation``. The factor is logged, put into the event
    storage as ``distill_weight_rule_factor`` and kept in the checkpoints (register the
    hook as a checkpointable): a resumed run applies the stored factor, measuring nothing, and
    refuses settings other than those it was measured with (WeightRuleError).

    Args:
        target: wanted distillation total / detection total (``train.distill_weight_target``).
        batches: training batches to average over, per process.
        make_loader: builds a training data loader (an iterable of batches).
    """

    def __init__(self, target: float, batches: int, make_loader: Callable[[], Iterable[list]], amp: bool = False):
        self.target = target
        self.batches = batches
        self.amp = amp
        self._make_loader = make_loader
        self.factor = None  # set by before_train, or by a resumed checkpoint
        self._stored = None  # the target and batches the checkpointed factor was measured with

    def state_dict(self):
        return {"factor": self.factor, "target": self.target, "batches": self.batches}

    def load_state_dict(self, state):
        self.factor = state["factor"]
        self._stored = (state.get("target"), state.get("batches"))

    def before_train(self):
        model = unwrap_model(self.trainer.model)
        if self.factor is None:
            if self.trainer.start_iter > 0:
                raise WeightRuleError(
                    f"train.distill_weight_target is set, but this run resumes at iteration "
                    f"{self.trainer.start_iter} from a checkpoint without a measured factor (the run "
                    "started without the key): measuring now would change its weights part-way. Resume "
                    "without train.distill_weight_target, or start a new run with it."
                )
            self.factor = self.measure(model)
        else:
            if self._stored not in (None, (self.target, self.batches)):
                # the same refusal as check_rule_resume's, for a hook used outside the tool
                raise WeightRuleError(
                    f"train.distill_weight_target={self.target:g}, distill_weight_batches={self.batches} now, "
                    f"but the checkpoint's factor {self.factor:.4g} was measured with {self._stored[0]}, "
                    f"{self._stored[1]}: resume with those settings, or start a new run with the new ones"
                )
            logger.info("train.distill_weight_target: the factor %.4g from the checkpoint", self.factor)
        for loss in model.distill_losses:
            loss.weight = loss.weight * self.factor
        self.trainer.storage.put_scalar("distill_weight_rule_factor", self.factor, smoothing_hint=False)

    def measure(self, model) -> float:
        """The factor that brings ``model``'s distillation total to ``target`` x its detection total."""
        with rng_states_kept(), training_state_kept(model):
            records, distill_keys = loss_records(model, take(iter(self._make_loader()), self.batches), self.amp)
        records = [r for rank in comm.all_gather(records) for r in rank]
        distill_keys = set().union(*comm.all_gather(distill_keys))
        summary = summarize(records, distill_keys, self.target)
        if summary["scale"] is None:
            raise WeightRuleError(
                "train.distill_weight_target: the distillation losses are 0 at the start of training "
                "(every weight 0?); no factor can scale them to the target"
            )
        if not (math.isfinite(summary["scale"]) and summary["scale"] > 0):
            raise WeightRuleError(
                f"train.distill_weight_target: the measured factor is {summary['scale']} (detection total "
                f"{summary['detection']:.4g}, distillation total {summary['distillation']:.4g} over "
                f"{len(records)} batches); a loss is not finite or the detection loss is 0 at the start"
            )
        logger.info(
            "train.distill_weight_target=%g: over %d training batches the distillation total is %.4g x the "
            "detection total (standard error %s); every distillation weight x %.4g",
            self.target, len(records), summary["ratio"],
            "n/a" if summary["relative_se"] is None else f"{100 * summary['relative_se']:.1f}%",
            summary["scale"],
        )
        return summary["scale"]

