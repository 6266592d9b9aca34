"""Pairing student and teacher feature levels by stride, and making them comparable."""
from typing import Dict, Iterable, Mapping, Tuple

import torch
from torch import nn


class PairingError(ValueError):
    """Student and teacher levels that cannot be paired; the message names the fix."""


def _describe(shapes: Mapping) -> str:
    return ", ".join(f"{name} (stride {s.stride}, {s.channels} ch)" for name, s in shapes.items())


def pair_levels_by_stride(
    student_shapes: Mapping, teacher_shapes: Mapping, student_levels: Iterable[str]
) -> Dict[str, str]:
    """Map each requested student level to the teacher level of the same stride.

    Args:
        student_shapes, teacher_shapes: ``backbone.output_shape()`` dicts
            (level name -> ShapeSpec with ``channels`` and ``stride``).
        student_levels: student level names a loss wants.
    Returns:
        student level -> teacher level.
    """
    teacher_by_stride = {spec.stride: name for name, spec in teacher_shapes.items()}
    pairs = {}
    for level in student_levels:
        if level not in student_shapes:
            raise PairingError(
                f"Level {level!r} is not a student feature; the student backbone gives "
                f"{_describe(student_shapes)}. Fix the loss's in_features."
            )
        stride = student_shapes[level].stride
        if stride not in teacher_by_stride:
            raise PairingError(
                f"Student level {level!r} (stride {stride}) has no teacher level with that "
                f"stride; the teacher gives {_describe(teacher_shapes)}. Remove {level!r} "
                "from the loss's in_features."
            )
        pairs[level] = teacher_by_stride[stride]
    return pairs


ADAPTER_MODES = ("needed", "always")


def build_adapters(
    student_shapes: Mapping, teacher_shapes: Mapping, pairs: Mapping[str, str], mode: str = "needed"
) -> nn.ModuleDict:
    """A 1x1 conv per paired level (student -> teacher channels).

    ``mode="needed"``: only where the channel counts differ. ``mode="always"``:
    at every paired level, so that the student is free to keep its own channel
    basis (FitNet's "regressor"): without one, a loss that compares channel i
    of the student with channel i of the teacher forces the student's features
    into the teacher's basis, which its heads were not trained on. The convs
    are part of the distillation modules: trained with the student, dropped at
    export.
    """
    if mode not in ADAPTER_MODES:
        raise ValueError(f"adapters must be one of {ADAPTER_MODES}, got {mode!r}")
    adapters = nn.ModuleDict()
    for s_level, t_level in pairs.items():
        c_s, c_t = student_shapes[s_level].channels, teacher_shapes[t_level].channels
        if c_s != c_t or mode == "always":
            adapters[s_level] = nn.Conv2d(c_s, c_t, kernel_size=1)
    return adapters


def crop_to_common(
    student: torch.Tensor, teacher: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Crop two (N, C, H, W) maps to their common top-left (min H, min W) extent.

    Student and teacher may pad the same image to different size
    divisibilities; padding is at the bottom and right, so the top-left
    region is the same image area in both.
    """
    height = min(student.shape[-2], teacher.shape[-2])
    width = min(student.shape[-1], teacher.shape[-1])
    return student[..., :height, :width], teacher[..., :height, :width]
