"""tools/loss_scale.py: the arithmetic by hand, and one run through the real tool."""
import importlib.util
import os
import re

import pytest
import torch
from tool_runs import ROOT, TINY_DATA, run_tool, shrink_model

spec = importlib.util.spec_from_file_location("loss_scale", os.path.join(ROOT, "tools", "loss_scale.py"))
loss_scale = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loss_scale)


def test_summary_by_hand():
    records = [
        {"loss_cls": 1.0, "loss_box_reg": 1.0, "loss_pkd_p3": 4.0, "loss_pkd_p4": 1.0},
        {"loss_cls": 3.0, "loss_box_reg": 1.0, "loss_pkd_p3": 2.0, "loss_pkd_p4": 1.0},
    ]
    s = loss_scale.summarize(records, {"loss_pkd_p3", "loss_pkd_p4"}, target=0.1)
    # means: cls 2, box 1 (detection 3); pkd_p3 3, pkd_p4 1 (distillation 4)
    assert s["means"] == {"loss_cls": 2.0, "loss_box_reg": 1.0, "loss_pkd_p3": 3.0, "loss_pkd_p4": 1.0}
    assert (s["detection"], s["distillation"]) == (3.0, 4.0)
    assert s["ratio"] == pytest.approx(4 / 3) and s["scale"] == pytest.approx(0.1 * 3 / 4)
    # each batch's own ratio: 5 / 2 and 3 / 4 (min, median of two: the upper, max)
    assert s["batch_ratios"] == pytest.approx((0.75, 2.5, 2.5))
    # their mean 1.625, sample std 1.75 / sqrt(2), standard error std / sqrt(2) = 0.875
    assert s["relative_se"] == pytest.approx(0.875 / 1.625)
    report = loss_scale.format_report(s, {"loss_pkd_p3", "loss_pkd_p4"}, 0.1)
    assert "| loss_pkd_p3 | 3 | 1.000 |" in report and "| distillation total | 4 | 1.333 |" in report
    assert "Multiply every distillation weight by 0.075" in report
    assert "Per batch, distillation / detection: min 0.75, median 2.5, max 2.5" in report
    assert "Standard error of the mean per-batch ratio: 53.8% of it" in report
    assert loss_scale.summarize(records[:1], set(), target=1.0)["scale"] is None  # nothing to scale


def test_a_staged_config_is_measured_at_its_first_stage_by_default():
    from d2kd.config import ConfigError, load_config

    cfg = load_config(os.path.join(ROOT, "projects/DFMSD/configs/Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py"))
    first, where = loss_scale.measured_config(cfg, 1)
    assert where == " (SAL stage 1 of 2)" and "stages" not in first
    # stage 1 distils from the weaker R34 teacher with ME off; stage 2 from the R18w64 one with ME
    assert first.model.teachers.weights.endswith("faster_rcnn_R34_FPN/model_final.pth")
    assert first.dataloader.train.mapper.enhance is False and first.model.masking_enhancement is False
    second, _ = loss_scale.measured_config(cfg, 2)
    assert second.model.teachers.weights.endswith("faster_rcnn_R18w64_FPN/model_final.pth")
    assert second.dataloader.train.mapper.get("enhance", True) and second.model.masking_enhancement
    with pytest.raises(ConfigError, match="--stage 3 is out of range: the config has 2 stages"):
        loss_scale.measured_config(cfg, 3)
    plain = load_config(os.path.join(ROOT, "configs/baselines/pkd_R18w64_to_R18_faster_rcnn.py"))
    assert loss_scale.measured_config(plain, 1) == (plain, "")
    with pytest.raises(ConfigError, match="declares no SAL stages"):
        loss_scale.measured_config(plain, 2)


def test_tool_reports_the_scale_that_hits_the_target(tmp_path):
    from detectron2.config import LazyConfig, instantiate

    config = "configs/baselines/pkd_R50_to_R18_retinanet.py"
    teacher_size = ["backbone.bottom_up.stages.base_width=8", "backbone.out_channels=24"]
    cfg = LazyConfig.load(os.path.join(ROOT, config))
    LazyConfig.apply_overrides(cfg, [f"model.teachers.model.{o}" for o in teacher_size])
    weights = tmp_path / "teacher.pth"
    torch.save({"model": instantiate(cfg.model.teachers.model).state_dict()}, weights)
    out = run_tool(
        "loss_scale.py", "--config-file", config, "--iters", "2", "--target", "0.5",
        *TINY_DATA, *shrink_model("model.student"), *[f"model.teachers.model.{o}" for o in teacher_size],
        f"model.teachers.weights={weights}", "model.min_input_size=96",
        env={"D2KD_DATASETS": str(tmp_path / "data")},
    ).stdout
    assert "mean over 2 training batches" in out
    levels = re.findall(r"^\| loss_pkd_(p\d) \| ", out, re.MULTILINE)
    assert levels == ["p3", "p4", "p5", "p6", "p7"]
    ratio = float(re.search(r"^\| distillation total \| [0-9.e+-]+ \| ([0-9.]+) \|", out, re.MULTILINE).group(1))
    scale = float(re.search(r"Multiply every distillation weight by ([0-9.e+-]+)", out).group(1))
    assert ratio > 0.1 and scale * ratio == pytest.approx(0.5, rel=1e-2)  # both printed to 3 digits
    # the key it means, its current and suggested values, and the override to paste
    suggested = re.search(r"^  model\.distill_losses\.0\.weight: 1 -> ([0-9.e+-]+)$", out, re.MULTILINE)
    assert suggested is not None, out
    assert float(suggested.group(1)) == pytest.approx(scale, rel=1e-2)
    overrides = re.search(r"^As overrides: (.*)$", out, re.MULTILINE).group(1).split()
    assert overrides == [f"model.distill_losses.0.weight={suggested.group(1)}"]
    from d2kd.config import load_tool_config

    pasted = load_tool_config(os.path.join(ROOT, config), overrides)
    assert pasted.model.distill_losses[0].weight == pytest.approx(float(suggested.group(1)))


def test_the_weight_keys_of_real_configs_are_named_with_their_values():
    from d2kd.config import load_config

    def keys(config, stage=1):
        return loss_scale.weight_keys(load_config(os.path.join(ROOT, config)), stage)

    # every loss's outer weight is weight (MKD's the paper's alpha, eq. 6); values as the configs set them
    mkd = "projects/MKD/configs/Shapes/mkd_R18w64_to_R18_faster_rcnn.py"
    assert keys(mkd) == [("model.distill_losses.0.weight", pytest.approx(1.1e-4))]
    # a config that still sets the deprecated alpha: the key it sets, not a second one beside it
    old = load_config(os.path.join(ROOT, mkd))
    del old.model.distill_losses[0]["weight"]
    old.model.distill_losses[0].alpha = 3e-4
    assert loss_scale.weight_keys(old) == [("model.distill_losses.0.alpha", 3e-4)]
    assert keys("configs/baselines/pkd_R50_to_R18_retinanet.py") == [("model.distill_losses.0.weight", 1.0)]
    # a SAL config: the top-level key, which every stage without losses of its own uses
    dfmsd = "projects/DFMSD/configs/Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py"
    assert keys(dfmsd, 1) == keys(dfmsd, 2) == [("model.distill_losses.0.weight", pytest.approx(2.8e-9))]
    # a loss that leaves its weight out has its class's default; a stage with its own losses, its own key
    from d2kd.losses import MGDLoss
    from detectron2.config import LazyCall as L

    cfg = load_config(os.path.join(ROOT, dfmsd))
    cfg.stages[1].model = {"distill_losses": [L(MGDLoss)(in_features=["p3"], channels=16)]}
    assert loss_scale.weight_keys(cfg, 2) == [("stages.1.model.distill_losses.0.weight", 2e-5)]
    assert loss_scale.weight_keys(cfg, 1)[0][0] == "model.distill_losses.0.weight"
    report = loss_scale.format_weights([("model.distill_losses.0.weight", 1.1e-4), ("model.distill_losses.1.weight",
                                                                                     2.0)], 2.18)
    assert report.splitlines() == [
        "The distillation weights (current -> suggested):",
        "  model.distill_losses.0.weight: 0.00011 -> 0.00024",
        "  model.distill_losses.1.weight: 2 -> 4.36",
        "As overrides: model.distill_losses.0.weight=0.00024 model.distill_losses.1.weight=4.36",
    ]


def test_a_missing_teacher_file_names_its_key_before_anything_is_built(tmp_path):
    """A SAL config's first stage: the weak teacher's key is the stage's own (stages.0.…)."""
    config = "projects/DFMSD/configs/Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py"
    proc = run_tool("loss_scale.py", "--config-file", config,
                    f"stages.0.model.teachers.weights={tmp_path / 'no_weak.pth'}", check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Config error: Teacher weights stages.0.model.teachers.weights=") and "do not exist" in last
