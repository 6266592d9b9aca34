"""The scripts of ``tools/`` that the benchmark reuses (plot_losses, analyze_models,
export_student), imported by path: the tools are scripts, not a package."""
import importlib.util
import os
import sys

from .runner import ROOT

TOOLS = os.path.join(ROOT, "tools")


def tool_module(name):
    """``tools/<name>.py`` as the module ``name``, imported once."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(TOOLS, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]
