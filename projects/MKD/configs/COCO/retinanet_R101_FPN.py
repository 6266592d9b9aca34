"""Paper-size RetinaNet teacher on COCO: ResNet-101 FPN (configs/common/models/paper.py),
detectron2's 3x schedule. Its checkpoint, output/teachers/retinanet_R101_FPN_coco/model_final.pth,
is what mkd_R101_to_R50_retinanet.py loads."""
from detectron2 import model_zoo

from d2kd.config import zoo
from ..common.coco import dataloader, optimizer, train

_base = zoo.get_config("common/models/paper.py")
model = _base.retinanet_r101

dataloader.train.mapper.use_instance_mask = False
optimizer.lr = 0.01  # detectron2's RetinaNet recipe
lr_multiplier = model_zoo.get_config("common/coco_schedule.py").lr_multiplier_3x
train.max_iter = 270000  # 3x
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
train.output_dir = "./output/teachers/retinanet_R101_FPN_coco"
