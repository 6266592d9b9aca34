"""One-stage variant of dfmsd_R101_X101_to_R50_retinanet.py (paper figure 3): the X101
teacher directly, with ME and SFA, on the same 2x schedule (180k iterations)."""
from detectron2 import model_zoo

from .dfmsd_R101_X101_to_R50_retinanet import dataloader, model, optimizer, train

lr_multiplier = model_zoo.get_config("common/coco_schedule.py").lr_multiplier_2x
train.max_iter = 180000  # 2x = the two 1x stages
train.output_dir = "./output/DFMSD/COCO/dfmsd_onestage_X101_to_R50_retinanet"
