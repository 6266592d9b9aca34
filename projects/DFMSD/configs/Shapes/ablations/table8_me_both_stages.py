"""Paper table 8: masking enhancement in both SAL stages (candidate boxes from the weak
teacher's cache in both; the default config has ME in stage 2 only)."""
from ..dfmsd_R34_R50_to_R18_retinanet import dataloader, lr_multiplier, model, optimizer, stages, train

stages[0].model.masking_enhancement = True
stages[0].dataloader.train.mapper.enhance = True
train.output_dir = "./output/DFMSD/ablations/table8_me_both_stages"
