"""The core's layering reads one way: modeling <- config <- engine <- tools (each imported by
those after it, never by those before). No module of
d2kd.config imports d2kd.engine, at module level or inside a function (the import circle
config -> checks -> engine.stages -> config is gone), and no module of d2kd imports the
benchmark tooling (the top-level ``benchmarks`` package beside tools/)."""
import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "d2kd")


def _imports(path):
    """Absolute module names imported by ``path`` (relative imports resolved from d2kd/...)."""
    package = os.path.relpath(os.path.dirname(path), os.path.dirname(ROOT)).split(os.sep)
    names = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module)
    return names


def test_config_package_imports_neither_engine_nor_benchmark():
    folder = os.path.join(ROOT, "config")
    offending = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            bad = [m for m in _imports(os.path.join(folder, name))
                   if m.startswith("d2kd.engine")]
            if bad:
                offending[name] = bad
    assert offending == {}


def test_the_core_never_imports_the_benchmark_tooling():
    offending = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                bad = [m for m in _imports(path) if m == "benchmarks" or m.startswith(("benchmarks.", "d2kd.benchmark"))]
                if bad:
                    offending[os.path.relpath(path, ROOT)] = bad
    assert offending == {}
    assert not os.path.exists(os.path.join(ROOT, "benchmark"))  # moved to benchmarks/


def test_stage_configs_live_in_the_config_package():
    from d2kd.config.stages import stage_config
    from d2kd.engine import stages

    assert stages.stage_config is stage_config  # the engine re-exports it


def test_model_code_imports_neither_config_nor_engine():
    """d2kd.losses and d2kd.modeling sit below d2kd.config: the yacs path's config side
    (add_distillation_config) imports the model side (d2kd.modeling.yacs), never back."""
    offending = {}
    for package in ("losses", "modeling"):
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    bad = [m for m in _imports(path) if m.startswith(("d2kd.config", "d2kd.engine"))]
                    if bad:
                        offending[os.path.relpath(path, ROOT)] = bad
    assert offending == {}


def test_moved_names_keep_their_old_homes():
    from d2kd.config import ConfigError
    from d2kd.config.checks import ConfigError as checks_error
    from d2kd.config.yacs import distillation_kwargs
    from d2kd.modeling.yacs import distillation_kwargs as model_side
    from d2kd.utils.errors import ConfigError as defined

    assert ConfigError is checks_error is defined
    assert distillation_kwargs is model_side
