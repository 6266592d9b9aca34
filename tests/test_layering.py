"""The core's layering reads one way: config <- modeling <- engine <- tools. No module of
d2kd.config imports d2kd.engine or d2kd.benchmark, at module level or inside a function
(the import circle config -> checks -> engine.stages -> config is gone)."""
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
                   if m.startswith(("d2kd.engine", "d2kd.benchmark"))]
            if bad:
                offending[name] = bad
    assert offending == {}


def test_stage_configs_live_in_the_config_package():
    from d2kd.config.stages import stage_config
    from d2kd.engine import stages

    assert stages.stage_config is stage_config  # the engine re-exports it
