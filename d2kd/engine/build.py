"""Building a config's model before anything is written, with errors that name the keys.

Every run of the tools builds its model (and, through it, loads its teachers'
weights and checks its losses' settings) before its output folder holds a file:
a model that cannot be built is a :class:`~d2kd.config.ConfigError` naming the
problem and the fix, in a plain run, a staged (SAL) run and ``--eval-only``
alike, never a traceback after ``config.yaml`` and ``log.txt`` were written.

``--eval-only`` of a distillation config evaluates its student alone
(:func:`build_eval_model`): a DistillationDetector's inference is its student's,
so the teachers are not built and their checkpoints are not needed.
"""
from typing import Callable, List, Optional, Tuple

from omegaconf import DictConfig

from detectron2.config import instantiate
from detectron2.utils.registry import locate

from ..config import ConfigError
from ..config.checks import num_classes_keys
from ..config.teachers import iter_teachers
from ..modeling import DistillationDetector, PairingError, Teacher, WeightsError
from ..modeling.checkpoint import mismatch_fix
from ..modeling.distiller import DistilledStudent

__all__ = ["is_distillation_config", "build_model", "build_eval_model"]


def _target_class(node):
    """The class a LazyCall node builds (its ``_target_``, located when a string), or None."""
    target = node.get("_target_", None) if isinstance(node, DictConfig) else None
    if isinstance(target, str):
        try:
            target = locate(target)
        except Exception:  # noqa: BLE001  (instantiate() reports unknown targets itself)
            return None
    return target if isinstance(target, type) else None


def is_distillation_config(model_cfg) -> bool:
    """Whether a model config builds a :class:`~d2kd.modeling.DistillationDetector` (or a
    subclass, such as DFMSD's)."""
    target = _target_class(model_cfg)
    return target is not None and issubclass(target, DistillationDetector)


def _teachers_built(model_cfg, key: str) -> List[Tuple[str, DictConfig]]:
    """``(key, node)`` of the teachers that building ``model_cfg`` (named ``key``) loads:
    ``model_cfg`` itself where it is an ``L(Teacher)`` (a tool that builds one teacher
    alone), else its teachers (:func:`~d2kd.config.teachers.iter_teachers`)."""
    target = _target_class(model_cfg)
    if target is not None and issubclass(target, Teacher):
        return [(key, model_cfg)]
    return [(t.key, t.node) for t in iter_teachers(model_cfg, key) if isinstance(t.node, DictConfig)]


def _weights_message(model_cfg, key: str, error: WeightsError, name_key: Callable[[str], str]) -> str:
    """The WeightsError's message, its fix naming the config keys where the file is a
    teacher's: ``<teacher>.model.roi_heads.num_classes=N`` for a class count that differs,
    the weights key for a distillation run's checkpoint (each key as ``name_key`` spells it)."""
    path = getattr(error, "path", "")
    teachers = [(k, node) for k, node in _teachers_built(model_cfg, key)
                if path and str(node.get("weights", "")) == path]
    if not teachers or not (getattr(error, "file_num_classes", None) is not None
                            or getattr(error, "from_distillation", False)):
        return str(error)
    teacher_key, node = teachers[0]
    if error.from_distillation:
        fix = mismatch_fix(path, None, True, weights_key=name_key(f"{teacher_key}.weights"))
    else:
        keys = [name_key(k) for k, _ in num_classes_keys(node.get("model"), f"{teacher_key}.model")]
        fix = mismatch_fix(path, error.file_num_classes, False,
                           keys or [name_key(f"{teacher_key}.model.num_classes")])
    return f"{error.summary} {fix}" if error.summary else f"{error} {fix}"


def build_model(model_cfg, key: str = "model", name_key: Optional[Callable[[str], str]] = None):
    """``instantiate(model_cfg)``; whatever stops the build is a ConfigError naming the fix.

    Weights that do not fit their model config (a teacher's checkpoint, ``student_weights``)
    keep their message, with the config keys to set where the file is a teacher's; levels a
    distiller cannot pair keep theirs; any other ValueError, TypeError, KeyError or OSError
    raised while building (a negative loss weight, an unknown argument) is named with its
    type.

    Args:
        key: the config key of ``model_cfg``.
        name_key: how the user spells a key under it, when not as it is (a SAL stage's model:
            :func:`d2kd.config.stages.stage_key`, e.g. ``stages.0.model.teachers.weights``).
    """
    try:
        return instantiate(model_cfg)
    except ConfigError:
        raise
    except WeightsError as e:
        raise ConfigError(_weights_message(model_cfg, key, e, name_key or (lambda k: k))) from e
    except PairingError as e:
        raise ConfigError(str(e)) from e
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise ConfigError(f"{key} cannot be built: {type(e).__name__}: {e}") from e


def build_eval_model(model_cfg, key: str = "model"):
    """The model that ``--eval-only`` evaluates: for a distillation config its student alone,
    as a :class:`~d2kd.modeling.distiller.DistilledStudent` (it loads a distillation run's
    checkpoint, or a plain student's); any other config's model as it is. Errors as
    :func:`build_model`'s."""
    if is_distillation_config(model_cfg):
        return DistilledStudent(build_model(model_cfg.student, f"{key}.student"))
    return build_model(model_cfg, key)
