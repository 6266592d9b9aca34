"""Paper table 7 (SAL), three teachers: RetinaNet R18 (the plain student of
configs/Shapes/retinanet_R18_FPN.py, trained) -> R34 -> R50, 3 x 500 iterations
(the same 1500 in all). ME in the last stage, with the R34 teacher's boxes.

Also train the first teacher: ``python tools/lazyconfig_train_net.py --config-file configs/Shapes/retinanet_R18_FPN.py``.
"""
from omegaconf import OmegaConf

from d2kd.modeling import Teacher
from detectron2.config import LazyCall as L

from d2kd.config import zoo
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

_base = zoo.get_config("Shapes/retinanet_R18_FPN.py")
_r18_model = _base.model

_r18 = OmegaConf.to_container(stages[0], resolve=False)
_r18["name"] = "r18"
_r18["model"]["teachers"] = L(Teacher)(model=_r18_model, weights="output/Shapes/retinanet_R18_FPN/model_final.pth")
stages.insert(0, _r18)
train.max_iter = 500  # per stage: 3 x 500 = 1500
train.eval_period = 500
train.output_dir = "./output/DFMSD/ablations/table7_three_stages"
