"""Frozen teachers built from a model config and a checkpoint."""
import logging
from typing import Dict, List

import torch
from torch import nn

from .checkpoint import load_weights_strictly

logger = logging.getLogger(__name__)


class Teacher(nn.Module):
    """A frozen detector whose backbone features teach a student.

    The teacher keeps its own preprocessing (pixel mean/std, input format,
    size divisibility) and sees the same geometric image as the student: the
    images of the batch, after the student's data mapper. It runs only its
    backbone, under ``torch.no_grad()``, and stays in eval mode whatever
    ``.train()`` says.

    Args:
        model: a Detectron2 meta-arch with ``.backbone`` and ``.preprocess_image``
            (GeneralizedRCNN, RetinaNet, ...), e.g. ``L(RetinaNet)(...)`` in a config.
        weights: path of its trained checkpoint (a detectron2 ``.pth``; a
            distillation run's checkpoint gives its student). Required: a
            teacher with random weights teaches nothing.
        half: run the teacher in float16 (CUDA only); features are returned as float32.
        allow_partial_weights: load only the matching keys of ``weights``.
    """

    def __init__(
        self,
        model: nn.Module,
        weights: str,
        *,
        half: bool = False,
        allow_partial_weights: bool = False,
    ):
        super().__init__()
        if not hasattr(model, "backbone") or not hasattr(model, "preprocess_image"):
            raise TypeError(
                f"Teacher model must be a Detectron2 meta-arch with .backbone and "
                f".preprocess_image, got {type(model).__name__}"
            )
        if half and not torch.cuda.is_available():
            raise ValueError("Teacher(half=True) needs CUDA; set half=False to run on the CPU.")
        self.model = model
        self.weights = weights
        self.half_precision = bool(half)
        load_weights_strictly(model, weights, allow_partial=allow_partial_weights)
        logger.info("Teacher %s loaded from %s", type(model).__name__, weights)
        self.model.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        """Teachers stay in eval mode (BN statistics, dropout) in every phase."""
        return super().train(False)

    def output_shape(self):
        return self.model.backbone.output_shape()

    @property
    def input_format(self) -> str:
        return getattr(self.model, "input_format", "BGR")

    @torch.no_grad()
    def features(self, batched_inputs: List[dict], data_format: str) -> Dict[str, torch.Tensor]:
        """Backbone features of the teacher for the student's batch.

        Args:
            batched_inputs: detectron2 inputs; ``"image"`` is (3, H, W) in ``data_format``.
            data_format: channel order of those images ("BGR" or "RGB").
        Returns:
            level name -> (N, C, H_l, W_l) float32 features.
        """
        if data_format != self.input_format:
            batched_inputs = [dict(x, image=x["image"].flip(0)) for x in batched_inputs]
        images = self.model.preprocess_image(batched_inputs).tensor
        if self.half_precision:
            images = images.half()
        features = self.model.backbone(images)
        return {name: value.float() for name, value in features.items()}

    def _apply(self, fn, *args, **kwargs):
        module = super()._apply(fn, *args, **kwargs)
        if self.half_precision and next(self.model.parameters()).is_cuda:
            self.model.half()
        return module
