"""Paper table 7 (SAL), a CNN then a transformer teacher: RetinaNet R34 (stage 1) then
the Swin "micro" RetinaNet of ../retinanet_swin_micro_FPN.py (stage 2)."""
from d2kd.modeling import Teacher
from detectron2.config import LazyCall as L

from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train
from ..retinanet_swin_micro_FPN import model as _strong_teacher_model

model.teachers = L(Teacher)(
    model=_strong_teacher_model, weights="output/teachers/retinanet_swin_micro_FPN/model_final.pth"
)
train.output_dir = "./output/DFMSD/ablations/table7_retinanet_then_swin"
