"""DFMSD at paper size on COCO (GPU), heterogeneous pair (paper table 2 analogue, with
Faster R-CNN teachers in place of Cascade Mask R-CNN): Faster R-CNN R101 then X101-32x8d
teaching a RetinaNet R50 student on the shared levels p3-p6.

Teachers and box cache first::

    python tools/lazyconfig_train_net.py --num-gpus 8 --config-file projects/DFMSD/configs/COCO/faster_rcnn_R101_FPN.py
    python tools/lazyconfig_train_net.py --num-gpus 8 --config-file projects/DFMSD/configs/COCO/faster_rcnn_X101_FPN.py
    python -m dfmsd.cache_boxes --config-file projects/DFMSD/configs/COCO/dfmsd_faster_rcnn_R101_X101_to_R50_retinanet.py
"""
from .dfmsd_R101_X101_to_R50_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train
from .faster_rcnn_R101_FPN import model as _weak_teacher_model
from .faster_rcnn_X101_FPN import model as _strong_teacher_model

model.teachers.model = _strong_teacher_model
model.teachers.weights = "output/teachers/faster_rcnn_X101_FPN_coco/model_final.pth"
model.distill_losses[0].in_features = ["p3", "p4", "p5", "p6"]  # strides 8-64, in both
stages[0].model.teachers.model = _weak_teacher_model
stages[0].model.teachers.weights = "output/teachers/faster_rcnn_R101_FPN_coco/model_final.pth"
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/faster_rcnn_R101_FPN_coco_coco_2017_train.json"
train.output_dir = "./output/DFMSD/COCO/dfmsd_faster_rcnn_R101_X101_to_R50_retinanet"
