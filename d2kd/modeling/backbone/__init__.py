"""Backbones for d2kd models: width-scalable detectron2 ResNets, timm models and
torchvision's MobileNetV2, all as detectron2 ``Backbone``s usable with ``FPN``."""
from .mobilenet import MOBILENET_V2_PIXEL_MEAN, MOBILENET_V2_PIXEL_STD, MobileNetV2Backbone
from .resnet import RESNET_BLOCKS_PER_STAGE, make_resnet_stages, resnet_out_channels
from .timm_backbone import TimmBackbone, feature_name_for_reduction

__all__ = [
    "MOBILENET_V2_PIXEL_MEAN",
    "MOBILENET_V2_PIXEL_STD",
    "MobileNetV2Backbone",
    "RESNET_BLOCKS_PER_STAGE",
    "TimmBackbone",
    "feature_name_for_reduction",
    "make_resnet_stages",
    "resnet_out_channels",
]
