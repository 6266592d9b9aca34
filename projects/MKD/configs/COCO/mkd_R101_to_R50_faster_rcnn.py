"""MKD at paper size on COCO (GPU): Faster R-CNN R50 student (1x, from ImageNet weights),
Faster R-CNN R101 teacher; distilled at p2-p5. Built on
projects/MKD/configs/common/mkd_coco.py, as the RetinaNet config beside it.

Teacher checkpoint first::

    python tools/lazyconfig_train_net.py --num-gpus 8 \
        --config-file projects/MKD/configs/COCO/faster_rcnn_R101_FPN.py
"""
from detectron2.config import LazyCall as L

from d2kd.config import zoo
from d2kd.modeling import Teacher

from ..common.mkd_coco import dataloader, distiller as model, lr_multiplier, optimizer, train

_paper = zoo.get_config("common/models/paper.py")

dataloader.train.mapper.use_instance_mask = False
optimizer.lr = 0.02  # detectron2's R-CNN recipe
model.student = _paper.faster_rcnn_r50
model.teachers = L(Teacher)(
    model=_paper.faster_rcnn_r101, weights="output/teachers/faster_rcnn_R101_FPN_coco/model_final.pth"
)
model.distill_losses[0].in_features = ["p2", "p3", "p4", "p5"]
model.distill_losses[0].channels = "${...teachers.model.backbone.out_channels}"
train.output_dir = "./output/MKD/COCO/mkd_R101_to_R50_faster_rcnn"
