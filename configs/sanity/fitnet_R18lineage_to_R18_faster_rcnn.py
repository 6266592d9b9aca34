"""FitNet (feature MSE on p2-p6) from the same-lineage teacher (the student's own
architecture trained on from the student's warm-up: configs/sanity/teacher_R18_FPN_lineage.py)
to the Faster R-CNN R18 student: row (a) of the sanity profile (docs/RESULTS.md).

Student and teacher FPNs both have 64 channels, so no adapter is built
(``model.adapters="needed"``): the student copies the teacher's channels one for one,
which is what a teacher of its own lineage makes possible.
"""
from detectron2.config import LazyCall as L

from d2kd.modeling import Teacher

from ..common.distill_faster_rcnn import LEVELS, dataloader, lr_multiplier, model, optimizer, train
from ..common.distillers import fitnet as _fitnet
from ..common.models.faster_rcnn import model as _teacher_model

model.teachers = L(Teacher)(
    model=_teacher_model, weights="output/teachers/faster_rcnn_R18_FPN_lineage/model_final.pth"
)
_fitnet.in_features = LEVELS
# weight: the sanity profile sets it per row (tools/loss_scale.py at the rows' real start)
_fitnet.weight = 1.0
model.distill_losses = [_fitnet]
train.output_dir = "./output/sanity/fitnet_R18lineage_to_R18_faster_rcnn"
