"""Reading model weights from Detectron2-style checkpoint files."""
import os
from typing import Dict

import torch

STUDENT_PREFIX = "student."


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or does not match its model."""


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Return the model state dict stored in ``path``.

    Accepts a detectron2 checkpoint (``{"model": state_dict, ...}``) or a bare
    state dict. A checkpoint of a distillation run (keys ``student.*``) gives
    the student's weights, without the prefix.
    """
    if not path:
        raise WeightsError("No weights file given.")
    if not os.path.isfile(path):
        raise WeightsError(f"Weights file {path!r} does not exist.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises several types for bad files)
        raise WeightsError(f"Cannot read weights file {path!r}: {e}") from e
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise WeightsError(f"{path!r} holds no model state dict (expected a detectron2 .pth).")
    if any(key.startswith(STUDENT_PREFIX) for key in state):
        state = {
            key[len(STUDENT_PREFIX):]: value
            for key, value in state.items()
            if key.startswith(STUDENT_PREFIX)
        }
    return state


def load_weights_strictly(model: torch.nn.Module, path: str, *, allow_partial: bool = False):
    """Load ``path`` into ``model``; any missing, unexpected or mis-shaped key is an error.

    Args:
        allow_partial: load the matching keys and ignore the rest (explicit opt-in).
    Returns:
        (missing_keys, unexpected_keys) as lists of str.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(own[key].shape)}"
        for key in set(own) & set(state)
        if state[key].shape != own[key].shape
    )
    if (missing or unexpected or mismatched) and not allow_partial:
        def _head(keys):
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

        problems = []
        if missing:
            problems.append(f"{len(missing)} missing: {_head(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected: {_head(unexpected)}")
        if mismatched:
            problems.append(f"{len(mismatched)} with another shape: {_head(mismatched)}")
        raise WeightsError(
            f"Weights {path!r} do not match the model config: " + "; ".join(problems)
            + ". Check that the config is the one the weights were trained with, "
            "or set allow_partial_weights=True to load only the matching keys."
        )
    state = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(state, strict=False)
    return missing, unexpected
