"""MKD at paper size on COCO (GPU): Mask R-CNN R50 student (1x, from ImageNet weights),
Mask R-CNN R101 teacher (paper table 2), evaluated for bbox and segm AP; distilled at p2-p5.

Teacher checkpoint first::

    python tools/lazyconfig_train_net.py --num-gpus 8 \
        --config-file projects/MKD/configs/COCO/mask_rcnn_R101_FPN.py
"""
from d2kd.config import zoo
from .mask_rcnn_R101_FPN import dataloader, optimizer
from .mask_rcnn_R101_FPN import model as _teacher_model
from .mkd_R101_to_R50_retinanet import lr_multiplier, model, train

_base = zoo.get_config("common/models/paper.py")
_student = _base.mask_rcnn_r50

model.student = _student
model.teachers.model = _teacher_model
model.teachers.weights = "output/teachers/mask_rcnn_R101_FPN_coco/model_final.pth"
model.distill_losses[0].in_features = ["p2", "p3", "p4", "p5"]
train.output_dir = "./output/MKD/COCO/mkd_R101_to_R50_mask_rcnn"
