"""DistillationDetector from a yacs config (build_model), as detectron2 train_net.py users build it."""
import pytest
import torch
from conftest import synthetic_batch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from d2kd.config import ConfigError
from d2kd.config.yacs import add_distillation_config
from d2kd.modeling import DistillationDetector


def retinanet_cfg(fpn_channels):
    """A yacs RetinaNet R18-FPN (p3-p7, BN), 3 classes, CPU."""
    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "RetinaNet"
    cfg.MODEL.BACKBONE.NAME = "build_retinanet_resnet_fpn_backbone"
    cfg.MODEL.BACKBONE.FREEZE_AT = 0  # train the stem too (trained from scratch)
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.NORM = "BN"
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res3", "res4", "res5"]
    cfg.MODEL.FPN.IN_FEATURES = ["res3", "res4", "res5"]
    cfg.MODEL.FPN.OUT_CHANNELS = fpn_channels
    cfg.MODEL.RETINANET.NUM_CLASSES = 3
    cfg.MODEL.RETINANET.SCORE_THRESH_TEST = 0.0
    cfg.INPUT.MIN_SIZE_TRAIN = (64,)
    return cfg


@pytest.fixture(scope="module")
def teacher_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("yacs_teacher")
    cfg = retinanet_cfg(fpn_channels=24)
    torch.manual_seed(0)
    teacher = build_model(cfg)
    torch.save({"model": teacher.state_dict()}, folder / "teacher.pth")
    (folder / "teacher.yaml").write_text(cfg.dump())
    return folder / "teacher.yaml", folder / "teacher.pth", teacher.state_dict()


def distill_cfg(teacher_files):
    config, weights, _ = teacher_files
    cfg = add_distillation_config(retinanet_cfg(fpn_channels=16))
    cfg.MODEL.META_ARCHITECTURE = "DistillationDetector"
    cfg.MODEL.DISTILL.STUDENT_META_ARCHITECTURE = "RetinaNet"
    cfg.MODEL.DISTILL.TEACHER_CONFIG = str(config)
    cfg.MODEL.DISTILL.TEACHER_WEIGHTS = str(weights)
    cfg.MODEL.DISTILL.LOSSES = ["FitNetLoss", "MGDLoss"]
    cfg.MODEL.DISTILL.LOSS_WEIGHTS = [0.5, 2e-5]
    cfg.MODEL.DISTILL.IN_FEATURES = ["p3", "p4"]
    return cfg


def test_build_model_makes_a_distillation_detector_that_trains_the_student_only(teacher_files):
    model = build_model(distill_cfg(teacher_files))
    assert isinstance(model, DistillationDetector)
    assert type(model.student).__name__ == "RetinaNet"
    teacher = model.teachers["teacher"]
    for key, value in teacher_files[2].items():
        assert torch.equal(teacher.model.state_dict()[key], value), key
    fitnet, mgd = model.distill_losses
    assert (fitnet.weight, mgd.weight, fitnet.in_features) == (0.5, 2e-5, ["p3", "p4"])
    assert {k: a.weight.shape for k, a in model.adapters["teacher"].items()} == {
        "p3": (24, 16, 1, 1), "p4": (24, 16, 1, 1)}  # student 16 -> teacher 24 channels
    assert mgd.generators["p3"][0].in_channels == 24  # MGD got the teacher's width
    model.train()
    with EventStorage():
        losses = model(synthetic_batch(seed=1))
    assert {"loss_cls", "loss_box_reg", "loss_fitnet_p3", "loss_fitnet_p4", "loss_mgd_p3", "loss_mgd_p4"} == set(losses)
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert model.student.backbone.bottom_up.stem.conv1.weight.grad.abs().sum() > 0


def test_yacs_inference_is_the_bare_student(teacher_files):
    cfg = distill_cfg(teacher_files)
    model = build_model(cfg).eval()
    bare_cfg = retinanet_cfg(fpn_channels=16)
    bare = build_model(bare_cfg).eval()
    bare.load_state_dict(model.student.state_dict())
    batch = [{k: v for k, v in x.items() if k != "instances"} for x in synthetic_batch(seed=2)]
    with torch.no_grad():
        ours, theirs = model(batch), bare(batch)
    assert len(ours[0]["instances"]) > 0
    for a, b in zip(ours, theirs):
        assert torch.equal(a["instances"].pred_boxes.tensor, b["instances"].pred_boxes.tensor)
        assert torch.equal(a["instances"].scores, b["instances"].scores)


def test_yacs_mistakes_are_config_errors(teacher_files):
    plain = retinanet_cfg(fpn_channels=16)
    plain.MODEL.META_ARCHITECTURE = "DistillationDetector"
    with pytest.raises(ConfigError, match="add_distillation_config"):
        build_model(plain)
    cfg = distill_cfg(teacher_files)
    cfg.MODEL.DISTILL.LOSSES = ["FitNetLoss", "NoSuchLoss"]
    with pytest.raises(ConfigError, match="unknown loss 'NoSuchLoss'; known: .*PKDLoss"):
        build_model(cfg)
    cfg = distill_cfg(teacher_files)
    cfg.MODEL.DISTILL.LOSS_WEIGHTS = [1.0]
    with pytest.raises(ConfigError, match="LOSSES has 2 entries but LOSS_WEIGHTS 1"):
        build_model(cfg)
    cfg = distill_cfg(teacher_files)
    cfg.MODEL.DISTILL.TEACHER_WEIGHTS = ""
    with pytest.raises(ConfigError, match="TEACHER_WEIGHTS"):
        build_model(cfg)
