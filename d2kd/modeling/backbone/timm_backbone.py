"""Any timm model with ``features_only`` support as a detectron2 :class:`Backbone`.

Features are named by their reduction: ``res{log2(reduction)}``, so a stride-4
map is ``res2`` and a stride-32 map ``res5``, as in detectron2's ResNet; an FPN
config written for ResNet works unchanged with ConvNeXt or Swin.

Swin-style transformers build their attention masks for one input size
(``img_size``, 224 by default). Detection inputs vary, so pass
``model_kwargs=dict(strict_img_size=False)``: timm (1.0.x; tested with 1.0.31)
then accepts any input whose sides are multiples of the patch size, pads each
stage to whole windows and builds the shifted-window masks per forward.
Detectron2 pads images to the FPN's ``size_divisibility`` (32), which satisfies
this.
"""
import logging
import math
from typing import Dict, Optional, Sequence

import torch
from torch import nn
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import Backbone

from ..checkpoint import WeightsError, read_state_dict

__all__ = [
    "TimmBackbone",
    "feature_name_for_reduction",
    "check_state_dict_match",
    "load_timm_weights",
]

logger = logging.getLogger(__name__)


def feature_name_for_reduction(reduction: int) -> str:
    """``4 -> "res2"``, ``32 -> "res5"``; the reduction must be a power of two."""
    level = int(round(math.log2(reduction)))
    if 2**level != reduction:
        raise ValueError(f"feature reduction {reduction} is not a power of two")
    return f"res{level}"


def check_state_dict_match(expected: dict, given: dict, target: str, path: str) -> None:
    """Raise :class:`WeightsError` (a ValueError) naming ``path`` and the keys
    unless ``given`` has exactly the keys of ``expected``, with the same shapes."""
    missing = sorted(k for k in expected if k not in given)
    unexpected = sorted(k for k in given if k not in expected)
    wrong_shape = sorted(
        f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in given.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong_shape:
        raise WeightsError(
            f"weights file {path} does not match {target}:\n"
            f"  missing keys ({len(missing)}): {missing[:20]}\n"
            f"  unexpected keys ({len(unexpected)}): {unexpected[:20]}\n"
            f"  shape mismatches ({len(wrong_shape)}): {wrong_shape[:20]}"
        )


def _plain(obj):
    """Plain Python containers for timm (lazy configs pass omegaconf ones)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover
        return dict(obj)
    if isinstance(obj, (DictConfig, ListConfig)):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def _feature_key_candidates(full_key: str):
    """Names a full-model state-dict key can take inside timm's feature wrappers:
    unchanged (hook wrapper), first two levels flattened ``a.0.b -> a_0.b``
    (``FeatureListNet(flatten_sequential=True)``), or under ``model.`` (getter)."""
    return (full_key, full_key.replace(".", "_", 1), "model." + full_key)


def load_timm_weights(body: nn.Module, model_name: str, model_kwargs: dict, path: str) -> None:
    """Load a timm classification-model state dict from ``path`` into ``body``,
    a ``features_only`` model of the same architecture.

    The file is first loaded strictly into a fresh full model built with the
    same arguments; only the classifier (``pretrained_cfg["classifier"]``) may
    be missing or of another size. Every tensor of ``body`` must then receive
    a value. Raises WeightsError naming the file and the offending keys otherwise.
    """
    import timm

    reference = timm.create_model(model_name, pretrained=False, **model_kwargs)
    expected = reference.state_dict()
    classifiers = reference.pretrained_cfg.get("classifier") or ()
    if isinstance(classifiers, str):
        classifiers = (classifiers,)

    def is_classifier(key):
        return any(key == c or key.startswith(c + ".") for c in classifiers)

    given = {k: v for k, v in read_state_dict(path).items() if not is_classifier(k)}
    expected = {k: v for k, v in expected.items() if not is_classifier(k)}
    check_state_dict_match(expected, given, f"timm model '{model_name}' ({model_kwargs})", path)

    by_feature_name = {}
    for key, value in given.items():
        for candidate in _feature_key_candidates(key):
            by_feature_name.setdefault(candidate, value)
    body_keys = list(body.state_dict())
    unmapped = [k for k in body_keys if k not in by_feature_name]
    if unmapped:
        raise WeightsError(
            f"cannot map the weights in {path} onto the feature extractor of '{model_name}'; "
            f"no value for {unmapped[:20]}"
        )
    body.load_state_dict({k: by_feature_name[k] for k in body_keys}, strict=True)


class TimmBackbone(Backbone):
    """A timm ``features_only`` model returning NCHW maps named ``res2``..``res5``.

    Args:
        model_name: a timm model name, e.g. "resnet18", "convnext_tiny",
            "swin_tiny_patch4_window7_224".
        out_features: names of the maps to return; ``res{k}`` is the map with
            reduction ``2**k``. It must be one of the model's feature levels.
        pretrained: let timm download its pretrained weights (needs network).
        weights_path: a file with a timm state dict of the full classification
            model (classifier optional). Checked strictly before loading: any
            missing, unexpected or mis-shaped key raises WeightsError naming the
            file. Exclusive with ``pretrained``.
        model_kwargs: extra keyword arguments of ``timm.create_model``, e.g.
            ``dict(strict_img_size=False)`` for Swin, or ``embed_dim``,
            ``depths``, ``num_heads``, ``drop_path_rate``.

    ``forward(x)``: x is (N, 3, H, W) with H, W multiples of
    :attr:`size_divisibility`; returns ``{name: (N, C_name, H / s, W / s)}``
    with C and s from :meth:`output_shape`. Channels-last outputs (Swin) are
    permuted to NCHW.
    """

    def __init__(
        self,
        model_name: str,
        *,
        out_features: Sequence[str] = ("res2", "res3", "res4", "res5"),
        pretrained: bool = False,
        weights_path: Optional[str] = None,
        model_kwargs: Optional[dict] = None,
    ):
        super().__init__()
        import timm

        if pretrained and weights_path:
            raise ValueError("TimmBackbone: give either pretrained=True or weights_path, not both")
        model_kwargs = _plain(model_kwargs or {})
        for reserved in ("features_only", "out_indices", "pretrained"):
            if reserved in model_kwargs:
                raise ValueError(f"TimmBackbone sets '{reserved}'; remove it from model_kwargs")
        out_features = list(out_features)
        if not out_features:
            raise ValueError("TimmBackbone: out_features is empty")

        body = timm.create_model(model_name, pretrained=False, features_only=True, **model_kwargs)
        names = [feature_name_for_reduction(r) for r in body.feature_info.reduction()]
        unknown = [f for f in out_features if f not in names]
        if unknown:
            raise ValueError(
                f"TimmBackbone('{model_name}'): features {unknown} not available; "
                f"the model has {dict(zip(names, body.feature_info.reduction()))} (name: reduction)"
            )
        # Where several levels share a reduction, the deepest one is used.
        last = max(i for i, n in enumerate(names) if n in out_features)
        if pretrained or last != len(names) - 1:
            # Rebuild without the stages after the last requested level (no
            # unused parameters under DDP), with timm's own weights if asked.
            body = timm.create_model(
                model_name,
                pretrained=pretrained,
                features_only=True,
                out_indices=tuple(body.feature_info.get("index")[: last + 1]),
                **model_kwargs,
            )
        if weights_path:
            load_timm_weights(body, model_name, model_kwargs, weights_path)
        self.body = body
        self.model_name = model_name

        info = body.feature_info
        self._level_names = [feature_name_for_reduction(r) for r in info.reduction()]
        self._out_features = list(dict.fromkeys(n for n in self._level_names if n in out_features))
        self._out_feature_strides = {n: r for n, r in zip(self._level_names, info.reduction())}
        self._out_feature_channels = {n: c for n, c in zip(self._level_names, info.channels())}
        self._channels_last = str(getattr(body, "output_fmt", "NCHW")).upper().endswith("NHWC")
        self._size_divisibility = max(info.reduction())
        self._warn_if_fixed_size()

    def _warn_if_fixed_size(self):
        for module in self.body.modules():
            if getattr(module, "strict_img_size", False) and hasattr(module, "img_size"):
                logger.warning(
                    "TimmBackbone('%s') only accepts %s inputs; pass "
                    "model_kwargs=dict(strict_img_size=False) for detection inputs of other sizes.",
                    self.model_name,
                    tuple(module.img_size),
                )
                return

    @property
    def size_divisibility(self) -> int:
        """The largest feature reduction of the timm model (32 for ResNet, ConvNeXt, Swin)."""
        return self._size_divisibility

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """x: (N, 3, H, W) -> ``{name: (N, C, H / stride, W / stride)}``."""
        if x.dim() != 4:
            raise ValueError(f"TimmBackbone takes (N, C, H, W) input, got shape {tuple(x.shape)}")
        features = self.body(x)
        if isinstance(features, dict):  # dict-returning timm feature wrappers
            features = list(features.values())
        outputs = {}
        for name, feature in zip(self._level_names, features):
            if name in self._out_features:
                if self._channels_last:
                    feature = feature.permute(0, 3, 1, 2).contiguous()
                outputs[name] = feature
        return outputs

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {
            name: ShapeSpec(
                channels=self._out_feature_channels[name], stride=self._out_feature_strides[name]
            )
            for name in self._out_features
        }
