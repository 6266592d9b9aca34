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
   :class:`MissingCompiledOpError`, naming the op and how to get it.

Run it with the Python of the environment to install into::

    python tools/install_detectron2.py [--force]

The second run is a fast no-op (one import check).
"""
import argparse
import os
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
'''

SETUP_PY = '''\
# Written by d2kd's tools/install_detectron2.py: detectron2 {version} as a
# pure-Python distribution (no C++/CUDA extension; detectron2/_C.py is a fallback).
from setuptools import find_packages, setup

setup(
    name="detectron2",
    version="{version}",
    description="detectron2 {version}, pure-Python build (from the {source} source archive)",
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


def stage_pure_python_package(tree, stage_dir):
    """Copy the detectron2 package into `stage_dir` with our setup.py and fallback _C."""
    shutil.copytree(os.path.join(tree, "detectron2"), os.path.join(stage_dir, "detectron2"))
    # The archive holds the model-zoo configs as a real directory; keep it.
    with open(os.path.join(stage_dir, "detectron2", "_C.py"), "w") as f:
        f.write(FALLBACK_C_MODULE)
    with open(os.path.join(stage_dir, "setup.py"), "w") as f:
        f.write(
            SETUP_PY.format(
                version=SOURCE_VERSION, source=SOURCE_PACKAGE, requirements=REQUIREMENTS
            )
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--force", action="store_true", help="reinstall even if detectron2 already imports"
    )
    args = parser.parse_args(argv)

    ok, info = detectron2_status()
    if ok and not args.force:
        print(f"detectron2 {info} already works in {sys.executable}; nothing to do.")
        return 0
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("torch must be installed before detectron2: pip install torch torchvision")
    if not ok:
        print(f"detectron2 does not import ({info}); installing the pure-Python v0.6 build.")

    with tempfile.TemporaryDirectory(prefix="d2kd-detectron2-") as workdir:
        tree = download_sources(workdir)
        stage_dir = os.path.join(workdir, "stage")
        os.makedirs(stage_dir)
        stage_pure_python_package(tree, stage_dir)
        pip("install", "--quiet", "--no-build-isolation", stage_dir)

    ok, info = detectron2_status()
    if not ok:
        sys.exit(f"detectron2 was installed but does not import: {info}")
    print(f"detectron2 {info} installed (pure Python; compiled ops raise a clear error).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
