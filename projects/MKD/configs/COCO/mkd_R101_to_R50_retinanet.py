"""MKD at paper size on COCO (GPU): RetinaNet R50 student (1x, from ImageNet weights),
RetinaNet R101 teacher, distilled at p3-p5 with the paper's settings.

Teacher checkpoint first::

    python tools/lazyconfig_train_net.py --num-gpus 8 \
        --config-file projects/MKD/configs/COCO/retinanet_R101_FPN.py
"""
from detectron2.config import LazyCall as L

from d2kd.modeling import DistillationDetector, Teacher

from d2kd.config import zoo
from ..common.coco import lr_multiplier, train
from ..common.mkd_loss import mkd_loss as _mkd_loss
from .retinanet_R101_FPN import dataloader, optimizer
from .retinanet_R101_FPN import model as _teacher_model

_base = zoo.get_config("common/models/paper.py")
_student = _base.retinanet_r50

_mkd_loss.channels = "${...teachers.model.backbone.out_channels}"
model = L(DistillationDetector)(
    student=_student,
    teachers=L(Teacher)(
        model=_teacher_model, weights="output/teachers/retinanet_R101_FPN_coco/model_final.pth"
    ),
    distill_losses=[_mkd_loss],
    # smallest training short edge: lets the losses check their sizes before training
    min_input_size=min(dataloader.train.mapper.augmentations[0].short_edge_length),
)
train.output_dir = "./output/MKD/COCO/mkd_R101_to_R50_retinanet"
