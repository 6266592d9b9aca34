"""Paper-size weaker Faster R-CNN teacher on COCO: ResNet-101 FPN, 3x schedule (the
detectron2 model zoo's faster_rcnn_R_101_FPN_3x recipe)."""
from detectron2 import model_zoo

from d2kd.config import zoo
from ..common.coco import dataloader, optimizer, train

_base = zoo.get_config("common/models/paper.py")
model = _base.faster_rcnn_r101

lr_multiplier = model_zoo.get_config("common/coco_schedule.py").lr_multiplier_3x
train.max_iter = 270000  # 3x
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
train.output_dir = "./output/teachers/faster_rcnn_R101_FPN_coco"
