"""The weaker teacher of DFMSD's Faster R-CNN SAL pairs on the bundled shapes dataset:
the Faster R-CNN R50 teacher of configs/common/models/faster_rcnn_r50.py at depth 34
(half-width ResNet-34), with the checkpoint its plain config
(projects/DFMSD/configs/Shapes/faster_rcnn_R34_FPN.py) writes. Import under a private
name and assign to ``stages[0].model.teachers``; ``model`` is the plain config's model.
"""
from detectron2.config import LazyCall as L

from d2kd.config import zoo
from d2kd.modeling import Teacher

model = zoo.get_config("common/models/faster_rcnn_r50.py").model
model.roi_heads.num_classes = 6
model.backbone.bottom_up.stages.depth = 34

teacher = L(Teacher)(model=model, weights="output/teachers/faster_rcnn_R34_FPN/model_final.pth")
