"""Helpers shared by loss modules, d2kd's and the projects': argument checks, per-level
lookups and diagnostics."""
import logging
import warnings
from typing import Dict, Iterable, Mapping, Optional, Tuple, Union

import torch
from detectron2.utils.events import _CURRENT_STORAGE_STACK, get_event_storage

logger = logging.getLogger(__name__)


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


class Default(float):
    """The default of an argument that has a deprecated old name: a float that tells the
    argument left out (``value is the_default``) from the same number given, so that
    :func:`renamed_argument` can refuse both names given even at the default value."""


def renamed_argument(owner: str, name: str, value: float, default: Default, old_name: str,
                     old_value: Optional[float]) -> float:
    """The value of argument ``name`` of a loss that still takes its old name ``old_name``.

    The old name alone keeps working, with a ``DeprecationWarning`` and a logged warning
    naming the config key to use; both names given is a ``ValueError`` naming both.

    Args:
        owner: the class name, for messages.
        value, default: the argument as given, and its :class:`Default` (``value is default``
            when it was left out).
        old_value: the argument under its old name; ``None`` when left out.
    """
    if old_value is None:
        return value
    if value is not default:
        raise ValueError(
            f"{owner}: both {name}={value!r} and {old_name}={old_value!r} are given; {old_name} is the "
            f"deprecated name of {name}: give only {name} (model.distill_losses.<i>.{name})"
        )
    message = (f"model.distill_losses.<i>.{old_name} is deprecated: use model.distill_losses.<i>.{name} "
               f"({owner}: the same value)")
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    logger.warning(message)
    return old_value


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
