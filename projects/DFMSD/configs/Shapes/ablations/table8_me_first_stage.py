"""Paper table 8: masking enhancement in the first SAL stage only (candidate boxes from
the weak teacher's cache, i.e. that stage's own teacher)."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

stages[0].model.masking_enhancement = True
stages[0].dataloader.train.mapper.enhance = True
model.masking_enhancement = False
dataloader.train.mapper.enhance = False
train.output_dir = "./output/DFMSD/ablations/table8_me_first_stage"
