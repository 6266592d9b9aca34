"""d2kd: knowledge distillation for Detectron2 detectors.

Importing the package registers the bundled synthetic datasets (see
:mod:`d2kd.data`) and the custom backbones (see :mod:`d2kd.modeling`).
"""
__version__ = "0.1.0"
