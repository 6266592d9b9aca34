"""Paper table 3: the main MKD run with the smaller teacher, RetinaNet R34
(compare with mkd_R50_to_R18_retinanet.py, the R50 teacher).

Teacher checkpoint first::

    python tools/lazyconfig_train_net.py --config-file projects/MKD/configs/Shapes/retinanet_R34_FPN.py
"""
from .mkd_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, train
from .retinanet_R34_FPN import model as _teacher_model

model.teachers.model = _teacher_model
model.teachers.weights = "output/teachers/retinanet_R34_FPN/model_final.pth"
train.output_dir = "./output/MKD/mkd_R34_to_R18_retinanet"
