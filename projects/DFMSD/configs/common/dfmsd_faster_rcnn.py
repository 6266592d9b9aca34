"""DFMSD with a Faster R-CNN student on the bundled shapes dataset: what the two-stage
(SAL) config and its one-stage variant share.

The Faster R-CNN R18 student, the R18w64 teacher, the optimizer and the schedule of
configs/common/distill_faster_rcnn.py (the base of the Faster R-CNN baselines); the
masking-enhancement data of sal.py; the DFMSD loss of dfmsd.py on the Faster R-CNN
levels: masked reconstruction (and L_ME) on p2-p6, SFA on p2-p4 (the first three
levels, paper table 9). The box cache is the weak R34 teacher's, written by
``python -m dfmsd.cache_boxes`` with the two-stage config.

A leaf sets the loss weights (``model.distill_losses[0].weight`` and ``.gamma``, by the
one rule where its run starts), ``train.max_iter`` and ``train.output_dir``; the
two-stage leaf adds the stages (sal.py) and the weak teacher.
"""
from d2kd.config import zoo
from dfmsd import DFMSDDetector

from .dfmsd import dfmsd_loss as _dfmsd_loss
from .sal import dataloader

_base = zoo.get_config("common/distill_faster_rcnn.py")
lr_multiplier, model, optimizer, train = _base.lr_multiplier, _base.model, _base.optimizer, _base.train

_dfmsd_loss.in_features = ["p2", "p3", "p4", "p5", "p6"]
_dfmsd_loss.channels = "${...teachers.model.backbone.out_channels}"
_dfmsd_loss.sfa_features = ["p2", "p3", "p4"]

model._target_ = DFMSDDetector
model.distill_losses = [_dfmsd_loss]
model.masking_enhancement = True
model.adversarial_epsilon = 0.0  # > 0: one FGSM step on the enhanced view (off in the paper setting)
# candidate boxes of the weak teacher, written by python -m dfmsd.cache_boxes
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/faster_rcnn_R34_FPN_d2kd_shapes_bench_train.json"
