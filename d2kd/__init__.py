"""d2kd: knowledge distillation for Detectron2 detectors.

Importing ``d2kd`` alone registers nothing: ``import d2kd.data`` registers the bundled
synthetic datasets (the shapes data configs do it), and ``import d2kd.modeling`` registers
the distillation meta-architecture with detectron2's ``META_ARCH_REGISTRY`` (for yacs
configs; lazy configs name the classes themselves).
"""
__version__ = "0.1.0"
