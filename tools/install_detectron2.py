#!/usr/bin/env python
"""Make sure `import detectron2` works in the current Python environment.

Detectron2 is not published on PyPI under its own name. This tool:

1. leaves a working detectron2 alone (for example a user's source build with
   its compiled ops) and exits at once;
2. otherwise downloads the source archive ``pb1-detectron2==0.6`` (detectron2
   v0.6's Python sources, without the C++/CUDA sources) with pip, and installs
   it as a pure-Python distribution named ``detectron2`` (so ``pip show
   detectron2``, ``importlib.metadata.version("detectron2")`` and ``pip
   uninstall detectron2`` work), declaring the library versions v0.6 needs
   (numpy<1.24, Pillow<10, setuptools<81);
3. adds a fallback ``detectron2._C`` module: every compiled op it lacks raises
   :class:`MissingCompiledOpError`, naming the op and how to get it, whether
   detectron2 reaches it as ``detectron2._C.<op>`` (v0.6) or as
   ``torch.ops.detectron2.<op>`` (the rotated-box ops: upstream main, and
   ``nms_rotated`` in v0.6 too).

Run it with the Python of the environment to install into::

    python tools/install_detectron2.py [--force]
    python tools/install_detectron2.py --source-tree DIR   # e.g. upstream main

``--source-tree`` installs a detectron2 source checkout (a directory holding
``detectron2/`` and, as in the git repository, ``configs/``) the same way,
instead of the v0.6 archive: tools/test_against_upstream.sh uses it to run the
suite against upstream main.

The second run is a fast no-op (one import check). If the detectron2 found was
installed by an older version of this tool, its fallback ``_C`` is brought up
to date in place (no download, no reinstall).
"""
import argparse
import base64
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap

SOURCE_PACKAGE = "pb1-detectron2"
SOURCE_VERSION = "0.6"

# Libraries detectron2 v0.6 needs, with the upper bounds its sources require.
REQUIREMENTS = [
    "numpy<1.24",  # np.bool / np.int / np.float in structures/masks.py, data/build.py
    "Pillow>=7.1,<10",  # Image.LINEAR at import in data/transforms/transform.py
    "setuptools<81",  # pkg_resources in model_zoo
    "matplotlib",
    "pycocotools>=2.0.2",
    "termcolor>=1.1",
    "yacs>=0.1.8",
    "tabulate",
    "cloudpickle",
    "tqdm>4.29.0",
    "tensorboard",
    "fvcore>=0.1.5,<0.1.6",
    "iopath>=0.1.7,<0.1.10",
    "omegaconf>=2.1,<2.4",
    "hydra-core>=1.1",
]

FALLBACK_C_MODULE = '''\
"""Fallback for detectron2's compiled extension, written by d2kd's
tools/install_detectron2.py for a pure-Python detectron2 install.

The CPU paths of detectron2 that d2kd uses do not need compiled ops. Those that
do (deformable convolution, rotated boxes / ROIAlignRotated, the fast C++ COCO
evaluation) raise MissingCompiledOpError when used. COCOEvaluator works with
use_fast_impl=False (pycocotools).
"""

INSTALL_HINT = (
    "This detectron2 is a pure-Python install without compiled ops. To use this "
    "op, build detectron2 from source with its C++/CUDA extension (see "
    "https://detectron2.readthedocs.io/en/latest/tutorials/install.html), e.g. "
    "`pip uninstall detectron2` then `python -m pip install "
    "'git+https://github.com/facebookresearch/detectron2.git'`."
)


class MissingCompiledOpError(RuntimeError):
    """A compiled detectron2 op was used, but detectron2._C was not built."""


def get_compiler_version():
    return "none (pure-Python detectron2, compiled ops unavailable)"


def get_cuda_version():
    return "none (pure-Python detectron2, compiled ops unavailable)"


def has_cuda():
    return False


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    raise MissingCompiledOpError(f"detectron2._C.{name} is a compiled op. " + INSTALL_HINT)


# The compiled extension also registers the rotated-box ops with torch when it is
# imported (TORCH_LIBRARY(detectron2, m) in layers/csrc/vision.cpp), and detectron2
# calls them as torch.ops.detectron2.<op>: upstream main all four, v0.6 nms_rotated.
# detectron2.layers imports _C (deform_conv.py) before any of them can be called.
# Register the same ops, with the compiled schemas, as kernels that raise
# MissingCompiledOpError, so these calls fail with the same clear message.
TORCH_OPS = {
    "nms_rotated": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "box_iou_rotated": "(Tensor boxes1, Tensor boxes2) -> Tensor",
    "roi_align_rotated_forward": (
        "(Tensor input, Tensor rois, float spatial_scale, int pooled_height, "
        "int pooled_width, int sampling_ratio) -> Tensor"
    ),
    "roi_align_rotated_backward": (
        "(Tensor grad, Tensor rois, float spatial_scale, int pooled_height, "
        "int pooled_width, int batch_size, int channels, int height, int width, "
        "int sampling_ratio) -> Tensor"
    ),
}


def _missing_torch_op(name):
    def op(*args, **kwargs):
        raise MissingCompiledOpError(
            f"torch.ops.detectron2.{name} is a compiled op (registered by detectron2._C). "
            + INSTALL_HINT
        )

    return op


def _register_torch_ops():
    try:
        import torch
    except ImportError:
        return None
    library_class = getattr(getattr(torch, "library", None), "Library", None)
    if library_class is None:  # a torch too old for torch.library: calls fail as before
        return None
    library = None
    for name, schema in TORCH_OPS.items():
        try:
            getattr(torch.ops.detectron2, name)
            continue  # registered already: leave it alone
        except (AttributeError, RuntimeError):  # not registered (older torch: RuntimeError)
            pass
        try:
            if library is None:
                library = library_class("detectron2", "FRAGMENT")
            library.define(name + schema)
            library.impl(name, _missing_torch_op(name), "CompositeImplicitAutograd")
        except Exception as e:  # never make detectron2 unimportable over a clearer message
            import warnings

            warnings.warn(f"detectron2._C fallback: could not register torch.ops.detectron2.{name}: {e}")
    return library


# kept referenced: torch drops a library's registrations when the object is freed
_TORCH_LIBRARY = _register_torch_ops()
'''

# The first line of every fallback this tool has written (see refresh_fallback_C).
FALLBACK_C_HEADER = FALLBACK_C_MODULE.splitlines()[0]

SETUP_PY = '''\
# Written by d2kd's tools/install_detectron2.py: detectron2 {version} as a
# pure-Python distribution (no C++/CUDA extension; detectron2/_C.py is a fallback).
from setuptools import find_packages, setup

setup(
    name="detectron2",
    version="{version}",
    description="detectron2 {version}, pure-Python build (from {source})",
    packages=find_packages(include=["detectron2", "detectron2.*"]),
    package_data={{"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]}},
    python_requires=">=3.7",
    install_requires={requirements!r},
)
'''


def detectron2_status():
    """Return (importable, message) for the detectron2 of this interpreter."""
    code = "import detectron2, detectron2.config, detectron2.modeling; print(detectron2.__version__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode == 0:
        return True, proc.stdout.strip()
    return False, (proc.stderr.strip().splitlines() or ["unknown error"])[-1]


def pip(*args):
    cmd = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def download_sources(workdir):
    """Fetch the source archive with pip and return the path of the extracted tree.

    pip prepares the archive's metadata, which imports torch: so torch must be
    installed already, and build isolation is off.
    """
    pip(
        "download", "--quiet", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
        f"{SOURCE_PACKAGE}=={SOURCE_VERSION}", "--dest", workdir,
    )
    archives = [f for f in os.listdir(workdir) if f.endswith((".tar.gz", ".zip"))]
    if len(archives) != 1:
        raise RuntimeError(f"Expected one source archive in {workdir}, found {archives}")
    with tarfile.open(os.path.join(workdir, archives[0])) as tar:
        tar.extractall(workdir, filter="data")
    tree = os.path.join(workdir, f"{SOURCE_PACKAGE}-{SOURCE_VERSION}")
    if not os.path.isdir(os.path.join(tree, "detectron2")):
        raise RuntimeError(f"{archives[0]} does not hold a detectron2 package")
    return tree


def read_version(tree):
    """The ``__version__`` that ``<tree>/detectron2/__init__.py`` declares."""
    with open(os.path.join(tree, "detectron2", "__init__.py")) as f:
        match = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", f.read(), re.M)
    if not match:
        raise RuntimeError(f"{tree}/detectron2/__init__.py declares no __version__")
    return match.group(1)


def stage_pure_python_package(tree, stage_dir, source=f"the {SOURCE_PACKAGE} source archive"):
    """Copy the detectron2 package of `tree` into `stage_dir` with our setup.py and fallback _C.

    Compiled files a source build may have left in the tree (``_C*.so``) are not
    copied. A git checkout keeps the model-zoo configs in ``configs/`` (upstream's
    setup.py links them into the package at build time): they are copied into
    ``detectron2/model_zoo/configs``; the v0.6 archive already holds them there.
    """
    package = os.path.join(stage_dir, "detectron2")
    shutil.copytree(
        os.path.join(tree, "detectron2"),
        package,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.pyd"),
    )
    zoo_configs = os.path.join(package, "model_zoo", "configs")
    if not os.path.exists(zoo_configs) and os.path.isdir(os.path.join(tree, "configs")):
        shutil.copytree(os.path.join(tree, "configs"), zoo_configs)
    with open(os.path.join(package, "_C.py"), "w") as f:
        f.write(FALLBACK_C_MODULE)
    with open(os.path.join(stage_dir, "setup.py"), "w") as f:
        f.write(SETUP_PY.format(version=read_version(tree), source=source, requirements=REQUIREMENTS))


def refresh_fallback_C(package_dir=None):
    """Bring the fallback ``_C`` of the installed detectron2 up to date, in place.

    Only a ``detectron2/_C.py`` that this tool wrote (it starts with
    FALLBACK_C_HEADER) and that differs from FALLBACK_C_MODULE is rewritten,
    with its line in the distribution's RECORD; a compiled ``_C`` is never
    touched. `package_dir` defaults to the detectron2 package this interpreter
    finds. Returns the path rewritten, or None.
    """
    if package_dir is None:
        spec = importlib.util.find_spec("detectron2")  # finds the package, does not run it
        if spec is None or not spec.submodule_search_locations:
            return None
        package_dir = list(spec.submodule_search_locations)[0]
    path = os.path.join(package_dir, "_C.py")
    if not os.path.isfile(path) or any(
        name.startswith("_C.") and name.endswith((".so", ".pyd")) for name in os.listdir(package_dir)
    ):
        return None
    with open(path) as f:
        text = f.read()
    if text == FALLBACK_C_MODULE or not text.startswith(FALLBACK_C_HEADER + "\n"):
        return None
    data = FALLBACK_C_MODULE.encode()
    _replace_file(path, data)
    _update_record_line(path, data)
    return path


def _replace_file(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _update_record_line(path, data):
    """Give `path` (.../detectron2/_C.py) the hash and size of `data` in its RECORD."""
    site_dir = os.path.dirname(os.path.dirname(path))
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    for dist in importlib.metadata.distributions(name="detectron2", path=[site_dir]):
        record = next(
            (f for f in dist.files or [] if f.name == "RECORD" and f.parent.name.endswith(".dist-info")),
            None,
        )
        if record is None:
            continue
        record_path = str(record.locate())
        with open(record_path) as f:
            lines = f.read().splitlines()
        lines = [
            f"detectron2/_C.py,sha256={digest},{len(data)}"
            if line.startswith("detectron2/_C.py,")
            else line
            for line in lines
        ]
        _replace_file(record_path, ("\n".join(lines) + "\n").encode())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--force", action="store_true", help="reinstall even if detectron2 already imports"
    )
    parser.add_argument(
        "--source-tree",
        metavar="DIR",
        help="install this detectron2 source checkout (holding detectron2/ and configs/, e.g. "
        "upstream main) instead of the v0.6 archive, even if a detectron2 already imports",
    )
    args = parser.parse_args(argv)
    if args.source_tree:
        args.source_tree = os.path.abspath(args.source_tree)
        if not os.path.isfile(os.path.join(args.source_tree, "detectron2", "__init__.py")):
            sys.exit(f"--source-tree {args.source_tree}: no detectron2/__init__.py there")

    ok, info = detectron2_status()
    if ok and not args.force and not args.source_tree:
        refreshed = refresh_fallback_C()
        if refreshed:
            print(f"detectron2 {info} already works in {sys.executable}; updated its fallback "
                  f"{refreshed} to this version of the tool; nothing else to do.")
        else:
            print(f"detectron2 {info} already works in {sys.executable}; nothing to do.")
        return 0
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("torch must be installed before detectron2: pip install torch torchvision")
    what = f"the source tree {args.source_tree}" if args.source_tree else "the v0.6 build"
    if not ok:
        print(f"detectron2 does not import ({info}); installing {what}, pure Python.")

    with tempfile.TemporaryDirectory(prefix="d2kd-detectron2-") as workdir:
        stage_dir = os.path.join(workdir, "stage")
        os.makedirs(stage_dir)
        if args.source_tree:
            stage_pure_python_package(
                args.source_tree, stage_dir, source=f"the source tree {args.source_tree}"
            )
        else:
            stage_pure_python_package(download_sources(workdir), stage_dir)
        pip("install", "--quiet", "--no-build-isolation", stage_dir)

    ok, info = detectron2_status()
    if not ok:
        sys.exit(f"detectron2 was installed but does not import: {info}")
    print(f"detectron2 {info} installed (pure Python; compiled ops raise a clear error).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
