"""Paper-size COCO training for MKD: configs/common/coco.py as it is (the mapper
loads instance masks, for the Mask R-CNN experiment)."""
from .....configs.common.coco import dataloader, lr_multiplier, optimizer, train  # noqa: F401
