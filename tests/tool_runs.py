"""Helpers to run the project's command-line tools in a subprocess, as a user would."""
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Shrinks configs/common/data/shapes.py to the tiny scale, 96-112 px inputs, batch 2.
TINY_DATA = [
    "dataloader.train.dataset.names=d2kd_shapes_tiny_train",
    "dataloader.test.dataset.names=d2kd_shapes_tiny_val",
    "dataloader.train.mapper.augmentations.0.short_edge_length=[96,112]",
    "dataloader.test.mapper.augmentations.0.short_edge_length=96",
    "dataloader.train.total_batch_size=2",
    "dataloader.train.num_workers=0",
    "dataloader.test.num_workers=0",
]
TINY_SCHEDULE = [
    "train.max_iter=4",
    "train.eval_period=4",
    "train.log_period=1",
    "train.checkpointer.period=2",
]


def load_tool(name):
    """tools/<name>.py as a module (the tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the DFMSD Faster R-CNN config's student and both teachers made tiny (widths 8; FPN 16, 32, 24)
SMALL_DFMSD_MODELS = [
    "model.student.backbone.bottom_up.stages.base_width=8",
    "model.student.backbone.out_channels=16",
    "model.teachers.model.backbone.bottom_up.stages.base_width=8",
    "model.teachers.model.backbone.out_channels=32",
    "stages.0.model.teachers.model.backbone.bottom_up.stages.base_width=8",
    "stages.0.model.teachers.model.backbone.out_channels=24",
]


def shrink_model(prefix="model"):
    """Overrides that make a configs/common/models network tiny (width 8, 16-channel FPN)."""
    return [
        f"{prefix}.backbone.bottom_up.stages.base_width=8",
        f"{prefix}.backbone.out_channels=16",
    ]


def run_tool(tool, *args, env=None, check=True, timeout=600):
    """Run ``python tools/<tool> args...`` from the repository root; return CompletedProcess."""
    return _run(tool, [os.path.join(ROOT, "tools", tool)], args, env, check, timeout)


def run_module(module, *args, env=None, check=True, timeout=600):
    """Run ``python -m <module> args...`` (a project's tool, e.g. ``dfmsd.cache_boxes``) from the
    repository root; return CompletedProcess."""
    return _run(module, ["-m", module], args, env, check, timeout)


def _run(tool, command, args, env, check, timeout):
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, *command, *map(str, args)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{tool} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def read_metrics(output_dir):
    import json

    with open(os.path.join(output_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f if line.strip()]
