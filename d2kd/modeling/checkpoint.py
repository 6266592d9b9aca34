"""Reading model weights from Detectron2-style checkpoint files."""
import os
from typing import Dict, List, Optional, Tuple

import torch

STUDENT_PREFIX = "student."
EXPORT_COMMAND = "python tools/export_student.py --checkpoint {path} --output student.pth"

# (classifier key, how many outputs it has per class, extra outputs) of detectron2's meta-archs,
# to read a checkpoint's class count from its shapes: Faster/Mask R-CNN's box classifier has
# num_classes + 1 outputs (the background), RetinaNet's one per class and anchor
_CLASSIFIERS = (
    ("roi_heads.box_predictor.cls_score.weight", None, 1),
    ("head.cls_score.weight", "anchors", 0),
)
# the tensors whose shapes follow the class count (box classifier and regressor, mask predictor)
_CLASS_DEPENDENT = ("roi_heads.box_predictor.", "roi_heads.mask_head.predictor.", "head.cls_score.")


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or does not match its model.

    Attributes (set when the file did not match its model; the tools use them to name
    the config keys to set):
        path: the weights file.
        file_num_classes: the class count read from the file's classifier shapes, when
            it differs from the model's (else None).
        from_distillation: the file is a distillation run's checkpoint (keys ``student.*``)
            whose student's weights were read.
        summary: the message without its fix (:func:`mismatch_fix`), "" when not set.
    """

    def __init__(self, message: str, *, path: str = "", file_num_classes: Optional[int] = None,
                 from_distillation: bool = False, summary: str = ""):
        super().__init__(message)
        self.path = path
        self.summary = summary
        self.file_num_classes = file_num_classes
        self.from_distillation = from_distillation


def is_distillation_state(state: Dict[str, torch.Tensor]) -> bool:
    """Whether a state dict is a distillation run's (a DistillationDetector's: ``student.*`` keys)."""
    return any(key.startswith(STUDENT_PREFIX) for key in state)


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Return the model state dict stored in ``path``.

    Accepts a detectron2 checkpoint (``{"model": state_dict, ...}``) or a bare
    state dict. A checkpoint of a distillation run (keys ``student.*``) gives
    the student's weights, without the prefix.
    """
    return _read_state_dict(path)[0]


def _read_state_dict(path: str) -> Tuple[Dict[str, torch.Tensor], bool]:
    """:func:`read_state_dict`, and whether the file was a distillation run's checkpoint."""
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
    if is_distillation_state(state):
        state = {
            key[len(STUDENT_PREFIX):]: value
            for key, value in state.items()
            if key.startswith(STUDENT_PREFIX)
        }
        return state, True
    return state, False


def _model_num_classes(model: torch.nn.Module) -> Optional[int]:
    """The class count of a detectron2 meta-arch: ``roi_heads.num_classes`` (R-CNN) or
    ``num_classes`` (RetinaNet, FCOS); None for other modules."""
    for owner in (getattr(model, "roi_heads", None), model):
        value = getattr(owner, "num_classes", None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def file_num_classes(model: torch.nn.Module, state: Dict[str, torch.Tensor]) -> Optional[int]:
    """The class count that ``state`` (a checkpoint's state dict) was trained with, read from
    its classifier's shape, when it differs from ``model``'s and the classifier is one that
    detectron2's Faster/Mask R-CNN or RetinaNet has; else None."""
    own_classes = _model_num_classes(model)
    if not own_classes:
        return None
    own = model.state_dict()
    for key, per_anchor, extra in _CLASSIFIERS:
        if key not in state or key not in own or state[key].dim() == 0 or own[key].dim() == 0:
            continue
        ours, theirs = int(own[key].shape[0]), int(state[key].shape[0])
        if per_anchor:  # A anchors per location: A x num_classes outputs
            anchors, rest = divmod(ours, own_classes)
            if rest or not anchors or theirs % anchors:
                return None
            found = theirs // anchors
        else:
            found = theirs - extra
        return found if found > 0 and found != own_classes else None
    return None


def load_weights_strictly(model: torch.nn.Module, path: str, *, allow_partial: bool = False):
    """Load ``path`` into ``model``; any missing, unexpected or mis-shaped key is an error.

    Args:
        allow_partial: load the matching keys and ignore the rest (explicit opt-in).
    Returns:
        (missing_keys, unexpected_keys) as lists of str.
    """
    state, from_distillation = _read_state_dict(path)
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
        # the class count names the fix when the classifier's shapes are all that differ
        classifier_only = not missing and not unexpected and all(
            key.startswith(_CLASS_DEPENDENT) for key in set(own) & set(state) if state[key].shape != own[key].shape)
        classes = file_num_classes(model, state) if mismatched and classifier_only else None
        summary = f"Weights {path!r} do not match the model config: " + "; ".join(problems) + "."
        raise WeightsError(
            f"{summary} {mismatch_fix(path, classes, from_distillation)}",
            path=path, file_num_classes=classes, from_distillation=from_distillation, summary=summary,
        )
    state = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(state, strict=False)
    return missing, unexpected


def mismatch_fix(path: str, file_classes: Optional[int], from_distillation: bool,
                 num_classes_keys: List[str] = (), weights_key: str = "") -> str:
    """What to do about weights that do not match their model config (the end of a
    :class:`WeightsError`'s message): a distillation run's checkpoint is named as one
    (it holds a student; ``weights_key``, the config key that gave it, when known), a
    differing class count names the ``num_classes`` keys to set (``num_classes_keys``, the
    config's; else in words), anything else asks for the config the weights were trained
    with."""
    if from_distillation:
        given = f"{weights_key}={path!r}" if weights_key else repr(path)
        return (f"{given} is a distillation run's checkpoint (its keys start with {STUDENT_PREFIX!r}): "
                "it holds that run's student (read without the prefix), which does not fit this model "
                "config. A teacher's weights come from a run of the teacher's own config (its "
                "model_final.pth); to teach with that student, export it (" + EXPORT_COMMAND.format(path=path)
                + ") and give the teacher the student's model config.")
    if file_classes is not None:
        if num_classes_keys:
            keys = " and ".join(f"{key}={file_classes}" for key in num_classes_keys)
            return f"The file was trained with {file_classes} classes: set {keys}."
        return (f"The file was trained with {file_classes} classes (read from its classifier's shape): "
                f"set the model config's num_classes={file_classes}.")
    return ("Check that the config is the one the weights were trained with, "
            "or set allow_partial_weights=True to load only the matching keys.")
