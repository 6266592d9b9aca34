"""The core's layering reads one way: config <- modeling <- engine <- tools. No module of
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
