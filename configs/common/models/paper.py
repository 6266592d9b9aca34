"""Paper-sized models (COCO, ~800 px inputs): detectron2's own model-zoo
definitions (``common/models/{retinanet,mask_rcnn_fpn}.py``), ResNet-50/101 at
full width, 256-channel FPN, FrozenBN, res2 and the stem frozen (``freeze_at=2``
as in detectron2's COCO recipes), MSRA preprocessing (BGR, std 1), 80 classes.

Everything matches detectron2's model-zoo checkpoints key for key, so those
load as teachers; that is why RetinaNet keeps detectron2's P6 from res5
(``LastLevelP6P7(in_channels=2048, in_feature="res5")``) where the CPU configs
use P5. Stages come from ``make_resnet_stages`` (set ``stages.depth=18`` or
34 together with ``top_block.in_channels=512`` for ResNet-18/34 RetinaNets).

Exported: retinanet_r50, retinanet_r101, faster_rcnn_r50, faster_rcnn_r101,
mask_rcnn_r50, mask_rcnn_r101. Use as
``from ..common.models.paper import retinanet_r101 as model``.
"""
from detectron2 import model_zoo
from detectron2.config import LazyCall as L

from d2kd.modeling.backbone import make_resnet_stages

retinanet_r50 = model_zoo.get_config("common/models/retinanet.py").model
retinanet_r101 = model_zoo.get_config("common/models/retinanet.py").model
mask_rcnn_r50 = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model
mask_rcnn_r101 = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model
faster_rcnn_r50 = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model
faster_rcnn_r101 = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model

for _model, _depth in [
    (retinanet_r50, 50),
    (retinanet_r101, 101),
    (mask_rcnn_r50, 50),
    (mask_rcnn_r101, 101),
    (faster_rcnn_r50, 50),
    (faster_rcnn_r101, 101),
]:
    _model.backbone.bottom_up.stages = L(make_resnet_stages)(
        depth=_depth, base_width=64, norm="FrozenBN", stride_in_1x1=True
    )
    _model.backbone.bottom_up.freeze_at = 2

for _model in (faster_rcnn_r50, faster_rcnn_r101):
    for _key in ("mask_in_features", "mask_pooler", "mask_head"):
        del _model.roi_heads[_key]
