"""Data, optimizer and schedule of the Mask R-CNN configs on the bundled shapes dataset
(paper table 2): those of the Faster R-CNN configs (configs/Shapes/faster_rcnn_R18_FPN.py,
configs/common/distill_faster_rcnn.py), plus the polygon masks and segm evaluation.
Built from configs/common pieces; leaf configs add ``model`` and ``train.output_dir``.
"""
from d2kd.config import zoo

dataloader = zoo.get_config("common/data/shapes.py").dataloader
_optim = zoo.get_config("common/optim.py")
optimizer, lr_multiplier = _optim.AdamW, _optim.lr_multiplier
train = zoo.get_config("common/train.py").train

dataloader.train.mapper.use_instance_mask = True
# explicit, so that segm AP is reported even when a short run predicts no masks
dataloader.evaluator.tasks = ["bbox", "segm"]
optimizer.lr = 2e-3  # the Faster R-CNN shapes rate (configs/common/optim.py)
train.max_iter = 1500
train.eval_period = 1500
