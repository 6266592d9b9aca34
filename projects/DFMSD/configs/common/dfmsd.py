"""DFMSD settings for configs: the loss (eq. 5-8) and the masking-enhancement mapper options (eq. 4).

Every argument is spelled out so that each is a command-line override, e.g.
``model.distill_losses.0.gamma=0`` (SFA off) or
``dataloader.train.mapper.area_threshold=0.4``. Import under private names::

    from ..common.dfmsd import dfmsd_loss as _dfmsd_loss
    from ..common.dfmsd import masking_enhancement as _me

    _dfmsd_loss.channels = "${...teachers.model.backbone.out_channels}"
    _me_mapper = L(MaskingEnhancementMapper)(**dataloader.train.mapper, **_me)
    _me_mapper.dataset_names = "${dataloader.train.dataset.names}"  # checks that the box cache covers it

Weights for the CPU-sized models of the bundled dataset (sum-reduced losses on
64-channel features of 192-256 px images): alpha is the DMKD baseline's
weight (configs/baselines/dmkd_R50_to_R18_retinanet.py), so DFMSD's masked
reconstruction has the baseline's scale; alpha * gamma = 1.0 is the PKD
baseline's weight; beta = 0.5 is the paper's ratio 2.5e-7 / 5e-7.
"""
from detectron2.config import LazyCall as L

from dfmsd import DFMSDLoss

dfmsd_loss = L(DFMSDLoss)(
    in_features=["p3", "p4", "p5", "p6", "p7"],  # masked reconstruction (and L_ME) levels
    channels=None,  # the teacher's FPN width, set by the leaf config
    weight=2e-5,  # alpha (eq. 6)
    beta=0.5,  # L_ME relative to the reconstruction (eq. 7); 0 disables L_ME
    gamma=5e4,  # L_SFA relative to the reconstruction: alpha * gamma = 1.0; 0 disables SFA
    sfa_features=["p3", "p4", "p5"],  # paper table 9: P1-P3, the first three FPN levels
    spatial_ratio=0.5,  # lambda_s: fraction of positions hidden (DMKD)
    channel_ratio=0.5,  # lambda_c: fraction of channels hidden (DMKD)
    mask_mode="attention",  # "attention" (DMKD), "sample", "random" (MGD-like)
    tau=1.0,  # attention temperature (eq. 2-3)
    reduction=16,  # SE squeeze ratio
    branches=["spatial", "channel"],
)

# Options of dfmsd.MaskingEnhancementMapper beside the DatasetMapper ones.
masking_enhancement = dict(
    area_threshold=0.5,  # lambda of eq. 4 (paper figure 9)
    noise_sigma=15.0,  # on the 0-255 pixel scale
    noise_prob=0.5,  # p
    crop_ratio=[0.6, 0.9],  # side ratio of the proportional crop, resized back
    box_cache="",  # weaker teacher's boxes from python -m dfmsd.cache_boxes; "" = ground truth
    score_threshold=None,  # default: every box the cache kept
    uncached="error",
    seed=None,
)
