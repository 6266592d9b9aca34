"""Paper-size weaker Faster R-CNN teacher on COCO: ResNet-101 FPN, 3x schedule (the
detectron2 model zoo's faster_rcnn_R_101_FPN_3x recipe)."""
from detectron2 import model_zoo

from .....configs.common.models.paper import faster_rcnn_r101 as model
from ..common.coco import dataloader, optimizer, train

lr_multiplier = model_zoo.get_config("common/coco_schedule.py").lr_multiplier_3x
train.max_iter = 270000  # 3x
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
train.output_dir = "./output/teachers/faster_rcnn_R101_FPN_coco"
