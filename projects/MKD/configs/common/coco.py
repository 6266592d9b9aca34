"""Paper-size COCO training for MKD: configs/common/coco.py as it is (the mapper
loads instance masks, for the Mask R-CNN experiment)."""
from d2kd.config import zoo

_base = zoo.get_config("common/coco.py")
dataloader, lr_multiplier, optimizer, train = (
    _base.dataloader, _base.lr_multiplier, _base.optimizer, _base.train
)
