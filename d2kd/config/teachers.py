"""The teachers of a config, read one way.

A distillation model config holds its teachers at ``teachers``: one teacher, an
``L(Teacher)(model=..., weights=...)`` node (it has a ``_target_``), or a dict of them by
name (``teachers=dict(weak=L(Teacher)(...), strong=L(Teacher)(...))``); a SAL config's
stages may set their own, at ``stages.<i>.model.teachers``. Every reader of a config's
teachers (the checks before training, the stages of a config, the tools, the benchmark planner)
goes through :func:`iter_teachers`, so that one rule decides what a teacher is and how its
override key is spelled.

Pure config reading (OmegaConf nodes, or plain dicts): nothing is built, no checkpoint is
opened.
"""
from typing import Any, Dict, List, Mapping, NamedTuple, Optional

__all__ = ["ConfigTeacher", "iter_teachers", "teacher_weights_keys"]


class ConfigTeacher(NamedTuple):
    """One teacher of a model config."""

    key: str  # its override key, e.g. "model.teachers" or "model.teachers.strong"
    name: Optional[str]  # its name in a dict of teachers; None for the one teacher of ``teachers=L(Teacher)(...)``
    node: Any  # its config node: model=..., weights=... (as the config holds it, unresolved)


def iter_teachers(model_cfg, key: str = "model") -> List[ConfigTeacher]:
    """The teachers of the model config ``model_cfg`` (whose own override key is ``key``).

    ``model_cfg.teachers`` with a ``_target_`` is one teacher, ``(f"{key}.teachers", None,
    node)``; any other dict is the teachers by name, ``(f"{key}.teachers.{name}", name,
    node)`` in the config's order (each node as the config holds it, whatever it is). A
    model config without ``teachers`` (a plain detector, a student), with ``teachers=None``
    or an empty dict, or that is no dict at all, has none: ``[]``.

    Example: ``iter_teachers(cfg.stages[0].model, "stages.0.model")`` ->
    ``[("stages.0.model.teachers", None, <L(Teacher) node>)]``.
    """
    teachers = model_cfg.get("teachers", None) if isinstance(model_cfg, Mapping) else None
    if not isinstance(teachers, Mapping):
        return []
    prefix = f"{key}.teachers"
    if "_target_" in teachers:
        return [ConfigTeacher(prefix, None, teachers)]
    return [ConfigTeacher(f"{prefix}.{name}", str(name), teachers[name]) for name in teachers]


def teacher_weights_keys(cfg) -> Dict[str, Any]:
    """``{override key: checkpoint path}`` of the ``weights`` of every teacher of the whole
    config ``cfg``: those of ``model`` (``model.teachers.weights``, or
    ``model.teachers.<name>.weights``) and those that a SAL stage sets itself
    (``stages.<i>.model.teachers.weights``; a stage that takes over the top-level teachers
    adds none). Teachers without a ``weights`` key are left out."""
    models = [("model", cfg.get("model", None))]
    models += [(f"stages.{i}.model", stage.get("model", None) if isinstance(stage, Mapping) else None)
               for i, stage in enumerate(cfg.get("stages", None) or [])]
    return {f"{teacher.key}.weights": teacher.node["weights"]
            for key, model_cfg in models for teacher in iter_teachers(model_cfg, key)
            if isinstance(teacher.node, Mapping) and "weights" in teacher.node}
