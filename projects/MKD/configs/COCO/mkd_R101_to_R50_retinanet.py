"""MKD at paper size on COCO (GPU): RetinaNet R50 student (1x, from ImageNet weights),
RetinaNet R101 teacher, distilled at p3-p5 with the paper's settings. Built on
projects/MKD/configs/common/mkd_coco.py, as the Faster and Mask R-CNN configs beside it.

Teacher checkpoint first::

    python tools/lazyconfig_train_net.py --num-gpus 8 \
        --config-file projects/MKD/configs/COCO/retinanet_R101_FPN.py
"""
from detectron2.config import LazyCall as L

from d2kd.config import zoo
from d2kd.modeling import Teacher

from ..common.mkd_coco import dataloader, distiller as model, lr_multiplier, optimizer, train

_paper = zoo.get_config("common/models/paper.py")

dataloader.train.mapper.use_instance_mask = False
optimizer.lr = 0.01  # detectron2's RetinaNet recipe
model.student = _paper.retinanet_r50
model.teachers = L(Teacher)(
    model=_paper.retinanet_r101, weights="output/teachers/retinanet_R101_FPN_coco/model_final.pth"
)
model.distill_losses[0].channels = "${...teachers.model.backbone.out_channels}"
train.output_dir = "./output/MKD/COCO/mkd_R101_to_R50_retinanet"
