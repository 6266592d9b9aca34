"""Helpers shared by loss modules, d2kd's and the projects': argument checks, per-level
lookups and diagnostics."""
from typing import Dict, Iterable, Mapping, Tuple, Union

import torch
from detectron2.utils.events import _CURRENT_STORAGE_STACK, get_event_storage


def put_scalar(name: str, value: torch.Tensor) -> None:
    """Log a diagnostic to detectron2's event storage when one is active; else do nothing."""
    if _CURRENT_STORAGE_STACK:
        get_event_storage().put_scalar(name, float(value.detach()))


def level_channels(
    owner: str, channels: Union[int, Mapping[str, int]], in_features: Iterable[str]
) -> Dict[str, int]:
    """Channels per level from an int (all levels) or a dict keyed by level."""
    in_features = list(in_features)
    if isinstance(channels, Mapping):
        missing = [f for f in in_features if f not in channels]
        if missing:
            raise ValueError(
                f"{owner}: channels has no entry for levels {missing}; "
                f"give an int or a dict covering {in_features}"
            )
        per_level = {f: channels[f] for f in in_features}
    else:
        per_level = {f: channels for f in in_features}
    for level, c in per_level.items():
        if isinstance(c, bool) or not isinstance(c, int) or c <= 0:
            raise ValueError(
                f"{owner}: channels must be a positive int (the teacher's channel count), "
                f"got {c!r} for level {level!r}"
            )
    return per_level


def check_ratio(owner: str, name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: {name} is a fraction and must be in [0, 1], got {value!r}")
    return float(value)


def check_positive(owner: str, name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{owner}: {name} must be > 0, got {value!r}")
    return float(value)


def check_non_negative(owner: str, name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}")
    return float(value)


def level_pair(
    owner: str,
    level: str,
    student: Mapping[str, torch.Tensor],
    teacher: Mapping[str, torch.Tensor],
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(student, detached teacher) tensors of one level, with a clear error if absent."""
    for side, feats in (("student", student), ("teacher", teacher)):
        if level not in feats:
            raise ValueError(
                f"{owner}: level {level!r} from in_features is missing in the {side} "
                f"features (got {sorted(feats)}); check in_features against the paired levels"
            )
    return student[level], teacher[level].detach()
