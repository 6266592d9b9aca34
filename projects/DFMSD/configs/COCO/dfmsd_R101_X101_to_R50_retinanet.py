"""DFMSD at paper size on COCO (GPU), homogeneous pair (paper table 6): RetinaNet R50
student (from ImageNet weights); stage 1 RetinaNet R101, stage 2 RetinaNet X101-32x8d,
each 1x (90k iterations), so 2x (the paper's 24 epochs) in all; ME in stage 2; paper
weights alpha = 5e-7, beta = 0.5 (the paper's 2.5e-7 / 5e-7), alpha * gamma = 1.

Teachers and box cache first (see projects/DFMSD/README.md)::

    python tools/lazyconfig_train_net.py --num-gpus 8 --config-file projects/DFMSD/configs/COCO/retinanet_R101_FPN.py
    python tools/lazyconfig_train_net.py --num-gpus 8 --config-file projects/DFMSD/configs/COCO/retinanet_X101_FPN.py
    python -m dfmsd.cache_boxes --config-file projects/DFMSD/configs/COCO/dfmsd_R101_X101_to_R50_retinanet.py
"""
from omegaconf import OmegaConf

from d2kd.modeling import Teacher
from detectron2.config import LazyCall as L
from dfmsd import DFMSDDetector, MaskingEnhancementMapper

from d2kd.config import zoo
from ..common.coco import lr_multiplier, train
from ..common.dfmsd import dfmsd_loss as _dfmsd_loss
from ..common.dfmsd import masking_enhancement as _me
from .retinanet_R101_FPN import dataloader, optimizer
from .retinanet_R101_FPN import model as _weak_teacher_model
from .retinanet_X101_FPN import model as _strong_teacher_model

_base = zoo.get_config("common/models/paper.py")
_student = _base.retinanet_r50

_dfmsd_loss.update(weight=5e-7, beta=0.5, gamma=2e6)  # paper alpha; alpha * gamma = 1
_dfmsd_loss.channels = "${...teachers.model.backbone.out_channels}"

model = L(DFMSDDetector)(
    student=_student,
    teachers=L(Teacher)(model=_strong_teacher_model, weights="output/teachers/retinanet_X101_FPN_coco/model_final.pth"),
    distill_losses=[_dfmsd_loss],
    masking_enhancement=True,
    adversarial_epsilon=0.0,
    # smallest training short edge: lets the losses check their sizes before training
    min_input_size=min(dataloader.train.mapper.augmentations[0].short_edge_length),
)

dataloader.train.mapper = L(MaskingEnhancementMapper)(**dataloader.train.mapper, **_me)
dataloader.train.mapper.dataset_names = "${dataloader.train.dataset.names}"  # checks that the box cache covers it
dataloader.train.mapper.box_cache = "output/DFMSD/box_cache/retinanet_R101_FPN_coco_coco_2017_train.json"

train.output_dir = "./output/DFMSD/COCO/dfmsd_R101_X101_to_R50_retinanet"

# a ListConfig: LazyConfig keeps only config types at the top level of a file
stages = OmegaConf.create(
    [
        dict(
            name="weak",
            model=dict(
                teachers=L(Teacher)(
                    model=_weak_teacher_model, weights="output/teachers/retinanet_R101_FPN_coco/model_final.pth"
                ),
                masking_enhancement=False,
            ),
            dataloader=dict(train=dict(mapper=dict(enhance=False))),  # ME off; the run's one mapper
        ),
        dict(name="strong"),
    ],
    flags={"allow_objects": True},
)
