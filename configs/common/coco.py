"""Paper-size training on COCO 2017 (``coco_2017_train`` / ``coco_2017_val`` under
``$DETECTRON2_DATASETS``), for GPU users: detectron2's own COCO data pipeline,
SGD and 1x schedule (90k iterations at batch 16), d2kd's train settings, and
students starting from detectron2's ImageNet ResNet-50 (as every detectron2 COCO
recipe does). Leaf configs set the model, the learning rate of their recipe
and whether the mapper loads instance masks.
"""
from detectron2 import model_zoo

from d2kd.utils.env import has_compiled_ops

from .train import train

dataloader = model_zoo.get_config("common/data/coco.py").dataloader
# detectron2's fast C++ COCOeval needs the compiled extension; pycocotools otherwise
dataloader.evaluator.use_fast_impl = has_compiled_ops()

optimizer = model_zoo.get_config("common/optim.py").SGD
lr_multiplier = model_zoo.get_config("common/coco_schedule.py").lr_multiplier_1x

train.update(
    max_iter=90000,  # 1x: 90k iterations * 16 images, about 12 epochs of train2017
    eval_period=5000,
    checkpointer=dict(period=5000, max_to_keep=3),
    init_checkpoint="detectron2://ImageNetPretrained/MSRA/R-50.pkl",
)
