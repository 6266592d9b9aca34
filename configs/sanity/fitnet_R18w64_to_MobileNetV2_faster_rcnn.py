"""FitNet (feature MSE on p2-p6) from the independently trained Faster R-CNN R18w64 teacher
to the ImageNet-pretrained Faster R-CNN MobileNetV2-FPN student
(configs/Shapes/faster_rcnn_MobileNetV2_FPN.py): the pretrained-student row of the sanity
profile (docs/RESULTS.md). Both FPNs have 64 channels and strides 4-64.
"""
from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import fitnet as _fitnet
from ..common.models.faster_rcnn_mobilenetv2 import model as _student

_student.roi_heads.num_classes = 6
model.student = _student
# the pretrained weights expect RGB (configs/Shapes/faster_rcnn_MobileNetV2_FPN.py)
dataloader.train.mapper.image_format = "RGB"
dataloader.test.mapper.image_format = "RGB"
_fitnet.in_features = LEVELS
# weight: that of the FitNet baseline configs/baselines/fitnet_R18w64_to_R18_faster_rcnn.py
_fitnet.weight = 4.7e-4
model.distill_losses = [_fitnet]
train.output_dir = "./output/sanity/fitnet_R18w64_to_MobileNetV2_faster_rcnn"
