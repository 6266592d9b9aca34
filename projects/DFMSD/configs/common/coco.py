"""Paper-size COCO training for DFMSD: configs/common/coco.py with boxes only
(DFMSD's experiments are detection)."""
from d2kd.config import zoo

_base = zoo.get_config("common/coco.py")
dataloader, lr_multiplier, optimizer, train = (
    _base.dataloader, _base.lr_multiplier, _base.optimizer, _base.train
)

dataloader.train.mapper.use_instance_mask = False
