"""The detector-neutral part of every distillation config: the ``DistillationDetector``
node without its student and teachers, and no distillation loss yet. A detector's
distillation base (``distill.py``: RetinaNet, ``distill_faster_rcnn.py``: Faster
R-CNN) imports it as its ``model`` and sets ``model.student`` and ``model.teachers``
from configs/common/models and configs/common/teachers.py; a leaf config sets
``model.distill_losses``.
"""
from detectron2.config import LazyCall as L

from d2kd.modeling import DistillationDetector

distiller = L(DistillationDetector)(
    distill_losses=[],
    # smallest training short edge (configs/common/data/shapes.py): lets losses check sizes
    min_input_size=112,
    # "needed": 1x1 adapters only where channels differ; "always": at every paired level
    adapters="needed",
    # student modules to start from the teacher's weights, e.g. [proposal_generator]
    inherit=[],
    # factor of every distillation loss over training (configs/common/distill_schedules.py)
    distill_schedule=None,
)
