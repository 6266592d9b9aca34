"""FitNet (feature MSE on p2-p6) from the independently trained Faster R-CNN R18w64 teacher
to the ImageNet-pretrained Faster R-CNN MobileNetV2-FPN student
(configs/Shapes/faster_rcnn_MobileNetV2_FPN.py): the pretrained-student row of the sanity
profile (docs/RESULTS.md). Both FPNs have 64 channels and strides 4-64.
"""
from ..baselines.fitnet_R18w64_to_R18_faster_rcnn import lr_multiplier, model, optimizer, train
from ..Shapes.faster_rcnn_MobileNetV2_FPN import dataloader
from ..Shapes.faster_rcnn_MobileNetV2_FPN import model as _student

model.student = _student
train.output_dir = "./output/sanity/fitnet_R18w64_to_MobileNetV2_faster_rcnn"
