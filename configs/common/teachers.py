"""Frozen teachers for the bundled shapes dataset.

Each reads the checkpoint written by training its own config with the same tool:

    python tools/lazyconfig_train_net.py --config-file configs/Shapes/retinanet_R50_FPN.py
    python tools/lazyconfig_train_net.py --config-file configs/Shapes/faster_rcnn_R18w64_FPN.py

(their ``train.output_dir`` is ``output/teachers/<name>``). Point ``weights``
elsewhere to use another checkpoint.
"""
from detectron2.config import LazyCall as L

from d2kd.modeling import Teacher

from .models.faster_rcnn_r18w64 import model as _faster_rcnn_r18w64
from .models.retinanet_r50 import model as _retinanet_r50

retinanet_R50_teacher = L(Teacher)(
    model=_retinanet_r50, weights="output/teachers/retinanet_R50_FPN/model_final.pth"
)
faster_rcnn_R18w64_teacher = L(Teacher)(
    model=_faster_rcnn_r18w64, weights="output/teachers/faster_rcnn_R18w64_FPN/model_final.pth"
)
