#!/usr/bin/env python
"""Installs the distillation core `d2kd` and the project packages `dfmsd` and `mkd`.

torch, torchvision and detectron2 are not declared: users bring their own
(CUDA) builds. `make setup` (tools/install_detectron2.py) installs a CPU
development environment with exact pins from requirements/dev.txt.
"""
from setuptools import find_packages, setup

PROJECT_PACKAGES = {
    "dfmsd": "projects/DFMSD/dfmsd",
    "mkd": "projects/MKD/mkd",
}

setup(
    name="d2kd",
    version="0.1.0",
    description="Knowledge distillation for Detectron2 detectors: DFMSD, MKD and baselines",
    python_requires=">=3.8",
    packages=find_packages(include=["d2kd", "d2kd.*"])
    + [pkg for pkg in PROJECT_PACKAGES]
    + [
        f"{pkg}.{sub}"
        for pkg, root in PROJECT_PACKAGES.items()
        for sub in find_packages(where=root)
    ],
    package_dir=PROJECT_PACKAGES,
    install_requires=[
        "fvcore>=0.1.5",
        "pycocotools>=2.0.2",
        "opencv-python-headless>=4.5",
        "timm>=0.9",
        "numpy",
        "omegaconf>=2.1",
        "tqdm",
        "matplotlib",
    ],
    extras_require={"test": ["pytest"]},
)
