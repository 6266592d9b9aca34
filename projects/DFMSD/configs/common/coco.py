"""Paper-size COCO training for DFMSD: configs/common/coco.py with boxes only
(DFMSD's experiments are detection)."""
from .....configs.common.coco import dataloader, lr_multiplier, optimizer, train  # noqa: F401

dataloader.train.mapper.use_instance_mask = False
