"""Paper table 2 (instance segmentation): MKD from a Mask R-CNN R50 teacher into the
Mask R-CNN R18 (half width) student of mask_rcnn_R18_FPN.py (same data, masks
and schedule), evaluated for bbox and segm AP.

Teacher checkpoint first::

    python tools/lazyconfig_train_net.py --config-file projects/MKD/configs/Shapes/mask_rcnn_R50_FPN.py
"""
from .mask_rcnn_R18_FPN import dataloader, lr_multiplier, optimizer, train
from .mask_rcnn_R18_FPN import model as _student
from .mask_rcnn_R50_FPN import model as _teacher_model
from .mkd_R50_to_R18_faster_rcnn import model

model.student = _student
model.teachers.model = _teacher_model
model.teachers.weights = "output/teachers/mask_rcnn_R50_FPN/model_final.pth"
train.output_dir = "./output/MKD/mkd_R50_to_R18_mask_rcnn"
