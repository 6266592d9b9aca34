"""Every distillation loss, pinned bit for bit on fixed float32 CPU inputs.

The expected values were recorded from the code before the refactor at commit
c416613 (issue 29: one per-level weighted loop). A change that only moves code
keeps them exactly; one that changes a value, the order of a random draw or the
order of the returned keys fails here.
"""
import pytest
import torch
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from d2kd.losses import CWDLoss, DistillContext, DualMaskingLoss, FGDLoss, FitNetLoss, MGDLoss, PKDLoss
from dfmsd import ENHANCED_VIEW, DFMSDLoss
from mkd import FADLoss, FDMDLoss, FeatureMSELoss, MKDLoss, MultiscaleLoss

LEVELS = ["p3", "p4"]
STRIDES = {"p3": 8, "p4": 16}
SIZES = {"p3": (8, 8), "p4": (4, 4)}
N, C = 2, 8
BOXES = (
    ((4.0, 4.0, 40.0, 24.0), (30.0, 20.0, 60.0, 62.0)),
    ((10.0, 12.0, 22.0, 50.0),),
)

CASES = {
    "fitnet": lambda: FitNetLoss(in_features=LEVELS, weight=0.7),
    "pkd": lambda: PKDLoss(in_features=LEVELS, weight=6.0),
    "cwd": lambda: CWDLoss(in_features=LEVELS, weight=0.3, tau=2.0),
    "mgd": lambda: MGDLoss(in_features=LEVELS, channels=C, weight=2e-3, mask_ratio=0.65),
    "fgd": lambda: FGDLoss(in_features=LEVELS, channels=C, weight=0.9),
    "dmkd": lambda: DualMaskingLoss(in_features=LEVELS, channels=C, weight=3e-3, reduction=2),
    "dmkd_random_spatial": lambda: DualMaskingLoss(
        in_features=LEVELS, channels=C, weight=3e-3, reduction=2, mask_mode="random",
        branches=("spatial",),
    ),
    "dmkd_sample": lambda: DualMaskingLoss(
        in_features=LEVELS, channels=C, weight=3e-3, reduction=2, mask_mode="sample",
        spatial_ratio=0.3, channel_ratio=0.6,
    ),
    "dfmsd_sfa": lambda: DFMSDLoss(
        in_features=LEVELS, channels=C, weight=5e-3, beta=0.5, gamma=3.0, reduction=2
    ),
    "dfmsd_sfa_p4": lambda: DFMSDLoss(
        in_features=["p3"], channels=C, weight=5e-3, gamma=7.0, sfa_features=["p4"], reduction=2
    ),
    "dfmsd_no_sfa": lambda: DFMSDLoss(
        in_features=LEVELS, channels=C, weight=5e-3, gamma=0.0, reduction=2
    ),
    "dfmsd_enhanced": lambda: DFMSDLoss(
        in_features=LEVELS, channels=C, weight=5e-3, beta=0.5, gamma=3.0, reduction=2
    ),
    "mkd_fea": lambda: FeatureMSELoss(in_features=LEVELS, weight=1.3),
    "mkd_multiscale": lambda: MultiscaleLoss(in_features=LEVELS, weight=0.8, kernels=(1, 2, 4)),
    "mkd_fdmd": lambda: FDMDLoss(in_features=LEVELS, channels=C, weight=0.6, zeta=0.5),
    "mkd_fdmd_literal": lambda: FDMDLoss(in_features=LEVELS, weight=0.6, zeta=0.4, use_generator=False),
    "mkd_fad": lambda: FADLoss(in_features=LEVELS, weight=0.4, tau=2.0),
    "mkd": lambda: MKDLoss(
        in_features=LEVELS, channels=C, alpha=0.3, fea_weight=1.5, multiscale_weight=0.7,
        fdmd_weight=1.1, fad_weight=0.9,
    ),
    "mkd_literal_no_fad": lambda: MKDLoss(
        in_features=LEVELS, alpha=5.0, use_fad=False, use_generator=False, zeta=0.25
    ),
}

# recorded from the code before the refactor at commit c416613
EXPECTED = {
    'fitnet': {
        'loss_fitnet_p3': 2.4039626121520996,
        'loss_fitnet_p4': 2.1333417892456055,
    },
    'pkd': {
        'loss_pkd_p3': 6.063196182250977,
        'loss_pkd_p4': 5.595820903778076,
    },
    'cwd': {
        'loss_cwd_p3': 0.5096002221107483,
        'loss_cwd_p4': 0.4116023778915405,
    },
    'mgd': {
        'loss_mgd_p3': 2.4079971313476562,
        'loss_mgd_p4': 0.5847107768058777,
    },
    'fgd': {
        'loss_fgd_p3': 0.07833665609359741,
        'loss_fgd_p4': 0.05698443576693535,
        'fgd/attention': 50.68224334716797,
        'fgd/bg': 70.86198425292969,
        'fgd/fg': 78.842529296875,
        'fgd/global': 2148.423828125,
    },
    'dmkd': {
        'loss_dmkd_spatial_p3': 3.6228461265563965,
        'loss_dmkd_channel_p3': 3.5836143493652344,
        'loss_dmkd_spatial_p4': 0.8788350224494934,
        'loss_dmkd_channel_p4': 0.8794951438903809,
    },
    'dmkd_random_spatial': {
        'loss_dmkd_spatial_p3': 3.635896682739258,
        'loss_dmkd_spatial_p4': 0.8804535269737244,
    },
    'dmkd_sample': {
        'loss_dmkd_spatial_p3': 3.626075267791748,
        'loss_dmkd_channel_p3': 3.58896541595459,
        'loss_dmkd_spatial_p4': 0.8780117034912109,
        'loss_dmkd_channel_p4': 0.8806440234184265,
    },
    'dfmsd_sfa': {
        'loss_dfmsd_spatial_p3': 6.038076877593994,
        'loss_dfmsd_channel_p3': 5.972690105438232,
        'loss_dfmsd_spatial_p4': 1.4647250175476074,
        'loss_dfmsd_channel_p4': 1.4658252000808716,
        'loss_dfmsd_sfa_p3': 0.015157991088926792,
        'loss_dfmsd_sfa_p4': 0.013989551924169064,
    },
    'dfmsd_sfa_p4': {
        'loss_dfmsd_spatial_p3': 6.038076877593994,
        'loss_dfmsd_channel_p3': 6.008177757263184,
        'loss_dfmsd_sfa_p4': 0.03264228627085686,
    },
    'dfmsd_no_sfa': {
        'loss_dfmsd_spatial_p3': 6.038076877593994,
        'loss_dfmsd_channel_p3': 5.972690105438232,
        'loss_dfmsd_spatial_p4': 1.4647250175476074,
        'loss_dfmsd_channel_p4': 1.4658252000808716,
    },
    'dfmsd_enhanced': {
        'loss_dfmsd_me_spatial_p3': 3.019038438796997,
        'loss_dfmsd_me_channel_p3': 2.986345052719116,
        'loss_dfmsd_me_spatial_p4': 0.7323625087738037,
        'loss_dfmsd_me_channel_p4': 0.7329126000404358,
    },
    'mkd_fea': {
        'loss_mkd_fea_p3': 4.464501857757568,
        'loss_mkd_fea_p4': 3.9619202613830566,
    },
    'mkd_multiscale': {
        'loss_mkd_multiscale_p3': 3.551128387451172,
        'loss_mkd_multiscale_p4': 3.2896811962127686,
    },
    'mkd_fdmd': {
        'loss_mkd_fdmd_p3': 1.4206293821334839,
        'loss_mkd_fdmd_p4': 1.3750300407409668,
    },
    'mkd_fdmd_literal': {
        'loss_mkd_fdmd_p3': 1.756833791732788,
        'loss_mkd_fdmd_p4': 1.5668171644210815,
    },
    'mkd_fad': {
        'loss_mkd_fad_p3': 0.679466962814331,
        'loss_mkd_fad_p4': 0.5488031506538391,
    },
    'mkd': {
        'loss_mkd_fea_p3': 1.5454045534133911,
        'loss_mkd_fea_p4': 1.371433973312378,
        'loss_mkd_multiscale_p3': 0.9321711659431458,
        'loss_mkd_multiscale_p4': 0.863541305065155,
        'loss_mkd_fdmd_p3': 0.7813462018966675,
        'loss_mkd_fdmd_p4': 0.7562664747238159,
        'loss_mkd_fad_p3': 0.44023895263671875,
        'loss_mkd_fad_p4': 0.3124309480190277,
    },
    'mkd_literal_no_fad': {
        'loss_mkd_fea_p3': 17.171161651611328,
        'loss_mkd_fea_p4': 15.238155364990234,
        'loss_mkd_multiscale_p3': 22.19455337524414,
        'loss_mkd_multiscale_p4': 20.560508728027344,
        'loss_mkd_fdmd_p3': 15.406670570373535,
        'loss_mkd_fdmd_p4': 13.914297103881836,
    },
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _features():
    g = torch.Generator().manual_seed(0)
    student, teacher = {}, {}
    for level in LEVELS:
        student[level] = torch.randn(N, C, *SIZES[level], generator=g)
        teacher[level] = 1.5 * torch.randn(N, C, *SIZES[level], generator=g) + 0.2
    return student, teacher


def _context(enhanced):
    instances = []
    for boxes in BOXES:
        inst = Instances((64, 64))
        inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.gt_classes = torch.zeros(len(boxes), dtype=torch.int64)
        instances.append(inst)
    extras = {ENHANCED_VIEW: True} if enhanced else {}
    return DistillContext(strides=dict(STRIDES), image_sizes=[(64, 64)] * N, instances=instances, extras=extras)


def compute(name):
    """``{key: value}`` of one case: the loss dict, then FGD's event-storage diagnostics."""
    torch.manual_seed(0)
    loss = CASES[name]()
    student, teacher = _features()
    torch.manual_seed(1)
    with EventStorage() as storage:
        out = loss(student, teacher, _context(enhanced=name == "dfmsd_enhanced"))
        scalars = {k: v for k, (v, _) in storage.latest().items()}
    assert all(v.dtype == torch.float32 and v.dim() == 0 for v in out.values())
    values = {k: v.item() for k, v in out.items()}
    values.update(sorted(scalars.items()))
    return values


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_values_are_pinned(name):
    got = compute(name)
    assert list(got) == list(EXPECTED[name])
    for key, expected in EXPECTED[name].items():
        torch.testing.assert_close(
            torch.tensor(got[key], dtype=torch.float64),
            torch.tensor(expected, dtype=torch.float64),
            rtol=0,
            atol=0,
            msg=f"{name}: {key}",
        )


if __name__ == "__main__":  # prints EXPECTED for the code as it is
    print("EXPECTED = {")
    for case in CASES:
        print(f"    {case!r}: {{")
        for key, value in compute(case).items():
            print(f"        {key!r}: {value!r},")
        print("    },")
    print("}")
