"""The detector-neutral part of DFMSD's two-stage (SAL) runs on the bundled shapes
dataset: the training data through the masking-enhancement mapper (eq. 4), and the
``stages`` list (``sal_stages``) whose first stage swaps in the weaker teacher and
switches masking enhancement off (``enhance=False``: the same mapper as detectron2's
``DatasetMapper``). The mapper is declared once: an override of
``dataloader.train.mapper.*`` reaches every stage.

A leaf config takes its student, strong teacher, optimizer and schedule from a
distillation base (configs/common/distill.py, configs/common/distill_faster_rcnn.py),
sets ``stages[0].model.teachers`` (common/weak_teacher_*.py) and
``dataloader.train.mapper.box_cache`` (the weak teacher's boxes), and adds its loss.
The top-level ``dataloader`` is the last stage's (ME mapper), so ``--eval-only`` and
the one-stage variants use it as it is.
"""
from omegaconf import OmegaConf

from d2kd.config import zoo
from detectron2.config import LazyCall as L
from dfmsd import MaskingEnhancementMapper

from .dfmsd import masking_enhancement as _me

dataloader = zoo.get_config("common/data/shapes.py").dataloader
dataloader.train.mapper = L(MaskingEnhancementMapper)(**dataloader.train.mapper, **_me)
dataloader.train.mapper.dataset_names = "${dataloader.train.dataset.names}"  # checks that the box cache covers it

# a ListConfig: LazyConfig keeps only config types at the top level of a file. Named
# ``sal_stages`` here (a leaf imports it as ``stages``) so that this piece is not taken
# for a runnable staged config.
sal_stages = OmegaConf.create(
    [
        dict(
            name="weak",
            model=dict(teachers=None, masking_enhancement=False),  # teachers: set by the leaf
            dataloader=dict(train=dict(mapper=dict(enhance=False))),  # ME off; the run's one mapper
        ),
        dict(name="strong"),
    ],
    flags={"allow_objects": True},
)
