"""Mask R-CNN, ResNet-18 (half width) FPN, trained from scratch on the bundled shapes
dataset with its polygon masks: the plain student of paper table 2. Data and
schedule are those of configs/Shapes/faster_rcnn_R18_FPN.py, plus instance masks;
evaluated for bbox and segm AP."""
from d2kd.config import zoo

_faster_rcnn = zoo.get_config("Shapes/faster_rcnn_R18_FPN.py")
dataloader, lr_multiplier, optimizer, train = (
    _faster_rcnn.dataloader, _faster_rcnn.lr_multiplier, _faster_rcnn.optimizer, _faster_rcnn.train
)
_mask_rcnn = zoo.get_config("common/models/mask_rcnn.py")
model = _mask_rcnn.model

model.roi_heads.num_classes = 6
dataloader.train.mapper.use_instance_mask = True
# explicit, so that segm AP is reported even when a short run predicts no masks
dataloader.evaluator.tasks = ["bbox", "segm"]
train.output_dir = "./output/Shapes/mask_rcnn_R18_FPN"
