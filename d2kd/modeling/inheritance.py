"""Student modules initialised from a teacher (inheritance).

The official MGD and FGD code, and MMRazor's MGD configs, start the student's
neck and heads from the teacher's weights where the shapes match: the student
then only has to make its backbone features fit heads that already detect.
:class:`~d2kd.modeling.DistillationDetector` takes ``inherit=[...]``, a list of
module paths of the detector (``"proposal_generator"``, ``"roi_heads"``,
``"backbone.fpn_output*"``: fnmatch patterns matched against each module path
of the teacher's state dict), checks at construction that every selected
teacher tensor exists in the student with the same shape, and copies them when
training starts from iteration 0 (hook :class:`~d2kd.engine.hooks.TeacherInheritance`,
after ``train.init_checkpoint`` was loaded, so the copy is not overwritten; a
resumed run keeps its own trained weights).
"""
import fnmatch
from typing import Dict, Iterable, List, Mapping, Sequence

import torch

from .checkpoint import WeightsError

__all__ = ["select_inherited", "check_inheritance", "copy_inherited"]


def _module_paths(key: str) -> List[str]:
    """``"roi_heads.box_head.fc1.weight"`` -> ``["roi_heads", "roi_heads.box_head", ...]``
    (every module path above the tensor, and the key itself)."""
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def select_inherited(teacher_state: Mapping[str, torch.Tensor], patterns: Sequence[str]) -> Dict[str, torch.Tensor]:
    """The tensors of ``teacher_state`` under a module that matches one of ``patterns``.

    Raises :class:`WeightsError` for a pattern that selects nothing (naming the
    teacher's top-level modules).
    """
    selected: Dict[str, torch.Tensor] = {}
    for pattern in patterns:
        hits = [k for k in teacher_state if any(fnmatch.fnmatchcase(p, pattern) for p in _module_paths(k))]
        if not hits:
            tops = sorted({k.split(".")[0] for k in teacher_state})
            raise WeightsError(
                f"inherit: {pattern!r} matches no module of the teacher; its modules are "
                f"{', '.join(tops)} (module paths such as 'roi_heads' or 'backbone.fpn_output*')."
            )
        selected.update({k: teacher_state[k] for k in hits})
    return selected


def check_inheritance(student_state: Mapping[str, torch.Tensor], selected: Mapping[str, torch.Tensor],
                      patterns: Iterable[str]) -> None:
    """Every selected teacher tensor exists in the student with the same shape, else
    :class:`WeightsError` listing the first mismatches and the fix."""
    missing = sorted(k for k in selected if k not in student_state)
    shapes = sorted(
        f"{k}: teacher {tuple(v.shape)} vs student {tuple(student_state[k].shape)}"
        for k, v in selected.items() if k in student_state and student_state[k].shape != v.shape
    )
    if missing or shapes:
        problems = ([f"{len(missing)} not in the student: {', '.join(missing[:4])}"] if missing else []) + (
            [f"{len(shapes)} with another shape: {', '.join(shapes[:4])}"] if shapes else [])
        raise WeightsError(
            f"inherit={list(patterns)}: the student cannot take these teacher weights ({'; '.join(problems)}). "
            "Inherit only modules whose shapes match (e.g. 'proposal_generator' or "
            "'backbone.fpn_output*' when both FPNs have the same width), or drop model.inherit."
        )


@torch.no_grad()
def copy_inherited(student: torch.nn.Module, selected: Mapping[str, torch.Tensor]) -> List[str]:
    """Copy ``selected`` (checked by :func:`check_inheritance`) into ``student``'s
    parameters and buffers in place; returns the keys copied."""
    own = student.state_dict(keep_vars=True)
    for key, value in selected.items():
        target = own[key]
        target.copy_(value.to(device=target.device, dtype=target.dtype))
    return sorted(selected)
