"""Gradient-balance diagnostics: how hard each loss pulls on each part of the student.

Users of every distillation toolkit ask how to set loss weights. The loss
values alone do not say it: a distillation loss 10x smaller than the detection
loss can still dominate the student's FPN if its gradient there is 10x larger,
and a loss whose gradient is orthogonal to the detection gradient teaches
something the detector does not use. :class:`DistillDiagnostics` measures, on the
batch of a training step:

- ``grad_norm/<term>/<part>``: the L2 norm of d(term)/d(parameters of ``part``),
- ``grad_ratio/<term>/<part>``: that norm over the detection loss's norm there,
- ``grad_cos/<term>/<part>``: the cosine between the term's gradient and the
  detection loss's gradient over the parameters of ``part``,

where ``part`` is the student's ``backbone`` (``backbone.bottom_up``), ``neck``
(the rest of ``backbone``: the FPN) or ``heads`` (everything else: RPN and ROI
heads, or RetinaNet's head), and ``term`` is ``detection`` (the student's own
losses), ``distill`` (all distillation losses) or one distillation term
(``<method>[_<suffix>]`` for the keys ``loss_<method>[_<suffix>]_<level>``, its levels
summed: ``fitnet``, ``mkd_fea``). Distillation losses act on
backbone features, so their gradient on ``heads`` is zero; no cosine is written
where either gradient is zero.
"""
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import torch
from torch import nn

from detectron2.engine import HookBase

from .hooks import unwrap_model

__all__ = ["STUDENT_PARTS", "student_parameter_groups", "loss_terms", "gradient_diagnostics",
           "DistillDiagnostics"]

STUDENT_PARTS = ("backbone", "neck", "heads")


def student_parameter_groups(student: nn.Module) -> "OrderedDict[str, List[nn.Parameter]]":
    """The student's trainable parameters by part: ``backbone`` (``student.backbone.bottom_up``,
    or the whole ``student.backbone`` when it has no ``bottom_up``), ``neck`` (the rest of
    ``student.backbone``, e.g. the FPN's lateral and output convs) and ``heads`` (every
    other parameter of the student)."""
    backbone = student.backbone
    bottom_up = getattr(backbone, "bottom_up", backbone)
    bottom_ids = {id(p) for p in bottom_up.parameters()}
    backbone_ids = {id(p) for p in backbone.parameters()}
    groups: "OrderedDict[str, List[nn.Parameter]]" = OrderedDict((part, []) for part in STUDENT_PARTS)
    for p in student.parameters():
        if not p.requires_grad:
            continue
        part = "backbone" if id(p) in bottom_ids else "neck" if id(p) in backbone_ids else "heads"
        groups[part].append(p)
    return groups


def term_name(key: str, levels: Iterable[str]) -> str:
    """``loss_fitnet_p3`` -> ``fitnet``: a distillation loss key without ``loss_`` and its
    level (the scalars' names then hold no "loss", which detectron2's console printer would
    list with the losses at every log line)."""
    if key.startswith("loss_"):
        key = key[len("loss_"):]
    for level in sorted(levels, key=len, reverse=True):
        if key.endswith("_" + level):
            return key[: -len(level) - 1]
    return key


def loss_terms(
    losses: Mapping[str, torch.Tensor], detection_keys: Sequence[str], levels: Iterable[str]
) -> "OrderedDict[str, torch.Tensor]":
    """Sum ``losses`` into ``detection`` (the keys in ``detection_keys``), each
    distillation term (the other keys, grouped by :func:`term_name`) and, when there
    is more than one term, their total ``distill``."""
    levels = list(levels)
    missing = [k for k in detection_keys if k not in losses]
    if missing:
        raise KeyError(f"detection losses {missing} are not in the loss dict {sorted(losses)}")
    terms: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    terms["detection"] = sum(losses[k] for k in detection_keys)
    distill: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, value in losses.items():
        if key in detection_keys:
            continue
        name = term_name(key, levels)
        distill[name] = distill[name] + value if name in distill else value
    terms.update(distill)
    if len(distill) > 1:
        terms["distill"] = sum(distill.values())
    return terms


def _flat_grads(term: torch.Tensor, params: List[nn.Parameter]) -> List[torch.Tensor]:
    if not term.requires_grad:
        return [torch.zeros_like(p) for p in params]
    grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def gradient_diagnostics(
    terms: Mapping[str, torch.Tensor], groups: Mapping[str, List[nn.Parameter]]
) -> Dict[str, float]:
    """Gradient norms, ratios and cosines of every term against ``terms["detection"]``.

    Args:
        terms: ``detection`` and the distillation terms (:func:`loss_terms`), scalars
            still attached to the step's graph (it is kept: ``retain_graph``).
        groups: part name -> parameters (:func:`student_parameter_groups`).
    Returns:
        ``{"grad_norm/<term>/<part>": float, "grad_ratio/<term>/<part>": float,
        "grad_cos/<term>/<part>": float}``; ratio and cosine are left out where the
        detection norm (or, for the cosine, the term's norm) is 0. Nothing is
        written into ``.grad``: the step's own backward is unchanged.
    """
    params = [p for group in groups.values() for p in group]
    if not params:
        return {}
    slices, start = {}, 0
    for part, group in groups.items():
        slices[part] = (start, start + len(group))
        start += len(group)
    per_term = {name: _flat_grads(value, params) for name, value in terms.items()}
    out: Dict[str, float] = {}
    detection = per_term["detection"]
    for part, (lo, hi) in slices.items():
        if lo == hi:
            continue
        det = torch.cat([g.flatten() for g in detection[lo:hi]]).double()
        det_norm = float(det.norm())
        out[f"grad_norm/detection/{part}"] = det_norm
        for name, grads in per_term.items():
            if name == "detection":
                continue
            g = torch.cat([x.flatten() for x in grads[lo:hi]]).double()
            norm = float(g.norm())
            out[f"grad_norm/{name}/{part}"] = norm
            if det_norm > 0:
                out[f"grad_ratio/{name}/{part}"] = norm / det_norm
                if norm > 0:
                    out[f"grad_cos/{name}/{part}"] = float(torch.dot(g, det)) / (norm * det_norm)
    return out


class DistillDiagnostics(HookBase):
    """Writes gradient-balance diagnostics every ``period`` iterations.

    Runs in ``before_step`` of the iterations where ``(iter + 1) % period == 0`` (those
    :class:`~detectron2.engine.hooks.PeriodicWriter` writes at when ``period`` is a
    multiple of ``train.log_period``): it adds a forward hook to the (DDP-unwrapped)
    :class:`~d2kd.modeling.DistillationDetector`, which, right after the step's forward,
    takes the gradient of each loss term with ``torch.autograd.grad`` (graph kept,
    ``.grad`` untouched: the step trains exactly as without diagnostics). ``after_step``
    removes the hook and puts the figures into the event storage, so that metrics.json
    and TensorBoard get them like every other scalar. Other iterations cost nothing.

    Args:
        period: iterations between measurements (> 0).
    """

    def __init__(self, period: int):
        if int(period) <= 0:
            raise ValueError(f"DistillDiagnostics period must be > 0, got {period}")
        self._period = int(period)
        self._handle = None
        self._values: Optional[Dict[str, float]] = None

    def before_step(self):
        if (self.trainer.iter + 1) % self._period != 0:
            return
        model = unwrap_model(self.trainer.model)
        if not hasattr(model, "student_loss_keys"):
            raise TypeError(
                f"train.distill_diagnostics_period needs a DistillationDetector model, got "
                f"{type(model).__name__}; set it to 0 for a plain detector"
            )
        self._handle = model.register_forward_hook(self._measure)

    def _measure(self, module, inputs, losses):
        if not module.training:
            return
        groups = student_parameter_groups(module.student)
        levels = module.student.backbone.output_shape().keys()
        with torch.enable_grad():
            self._values = gradient_diagnostics(loss_terms(losses, module.student_loss_keys, levels), groups)

    def after_step(self):
        if self._handle is None:
            return
        self._handle.remove()
        self._handle = None
        values, self._values = self._values, None
        if values:
            self.trainer.storage.put_scalars(smoothing_hint=False, **values)
