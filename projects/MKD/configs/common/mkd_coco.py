"""The detector-neutral base of MKD at paper size on COCO (GPU): the distiller node of
configs/common/distill_model.py with the MKD loss (common/mkd_loss.py, the paper's
settings), on the COCO data, SGD and 1x schedule of common/coco.py, students from
ImageNet weights.

Each COCO MKD leaf config (RetinaNet, Faster R-CNN, Mask R-CNN) sets its student and
teacher from configs/common/models/paper.py (``zoo.get_config``), the loss's ``channels``
(the teacher's FPN width, by interpolation) and ``in_features``, the
learning rate of its detector's recipe, whether the mapper loads instance masks,
and ``train.output_dir``; it reads no other detector's file.
"""
from d2kd.config import zoo

from .coco import dataloader, lr_multiplier, optimizer, train
from .mkd_loss import mkd_loss as _mkd_loss

# the node without student and teachers (imported by a leaf as its ``model``)
distiller = zoo.get_config("common/distill_model.py").distiller
distiller.distill_losses = [_mkd_loss]
# smallest training short edge: lets the losses check their sizes before training
distiller.min_input_size = min(dataloader.train.mapper.augmentations[0].short_edge_length)
