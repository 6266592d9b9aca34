"""train.distill_weight_target: the one weight rule measured where a run starts and applied by
the tool (d2kd.engine.weight_rule). Hand-computed factors on a toy model; the checkpointed
factor; the checks; the tool's run equals the run with the factor written into the config."""
import re
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from d2kd.config import ConfigError
from d2kd.engine.weight_rule import (DistillWeightRule, WeightRuleError, loss_records, summarize,
                                     weight_rule_settings)
from detectron2.utils.events import EventStorage


class _Weighted(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = weight


class ToyDistiller(nn.Module):
    """Detection loss = the batch's value; distillation = 0.5 * weight_0 + 2 * weight_1 per batch.
    Draws a random number per forward (as masks do), to show the rule leaves the generators alone."""

    def __init__(self, weights=(1.0, 3.0)):
        super().__init__()
        self.distill_losses = nn.ModuleList(_Weighted(w) for w in weights)
        self.student_loss_keys = ()
        self.forwards = 0

    def forward(self, batch):
        self.forwards += 1
        torch.rand(1)
        self.student_loss_keys = ("loss_det",)
        as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        return {"loss_det": as_tensor(float(batch)),
                "loss_a": as_tensor(0.5 * self.distill_losses[0].weight),
                "loss_b": as_tensor(2.0 * self.distill_losses[1].weight)}


def _run_before_train(hook, model, start_iter=0):
    hook.trainer = SimpleNamespace(model=model, start_iter=start_iter)
    with EventStorage() as storage:
        hook.trainer.storage = storage
        hook.before_train()
        return storage.latest()["distill_weight_rule_factor"][0]


def test_loss_records_split_detection_from_distillation():
    records, distill_keys = loss_records(ToyDistiller(), [4, 8])
    assert distill_keys == {"loss_a", "loss_b"}
    assert records == [{"loss_det": 4.0, "loss_a": 0.5, "loss_b": 6.0}, {"loss_det": 8.0, "loss_a": 0.5, "loss_b": 6.0}]


def test_the_factor_brings_the_distillation_total_to_the_target_and_leaves_the_rng_alone():
    model = ToyDistiller()
    hook = DistillWeightRule(0.1, 2, make_loader=lambda: iter([4, 8, 100]))
    torch.manual_seed(0)
    factor = _run_before_train(hook, model)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))  # the two measured forwards drew nothing from it
    # mean detection (4 + 8) / 2 = 6; distillation 0.5 * 1 + 2 * 3 = 6.5; 0.1 * 6 / 6.5
    assert factor == pytest.approx(0.6 / 6.5, rel=1e-12)
    assert model.forwards == 2  # batches=2: the third batch is not read
    assert [m.weight for m in model.distill_losses] == pytest.approx([0.6 / 6.5, 3 * 0.6 / 6.5], rel=1e-12)
    # measured again with the new weights, the rule holds exactly
    records, keys = loss_records(model, [4, 8])
    assert summarize(records, keys, 0.1)["ratio"] == pytest.approx(0.1, rel=1e-12)


def test_a_resumed_run_applies_the_checkpointed_factor_without_measuring():
    first = DistillWeightRule(0.1, 2, make_loader=lambda: iter([4, 8]))
    _run_before_train(first, ToyDistiller())

    def no_loader():
        raise AssertionError("a resumed run must not measure again")

    resumed = DistillWeightRule(0.1, 2, make_loader=no_loader)
    resumed.load_state_dict(first.state_dict())
    model = ToyDistiller()
    assert _run_before_train(resumed, model, start_iter=100) == first.factor
    assert [m.weight for m in model.distill_losses] == pytest.approx([first.factor, 3 * first.factor], rel=1e-12)
    # settings changed since the factor was measured: refused, as the tool's check_rule_resume does
    for target, batches in ((0.2, 2), (0.1, 3)):
        changed = DistillWeightRule(target, batches, make_loader=no_loader)
        changed.load_state_dict(first.state_dict())
        with pytest.raises(WeightRuleError, match=f"distill_weight_target={target:g}, distill_weight_batches="
                                                  f"{batches} now, but the checkpoint's factor .* was measured "
                                                  "with 0.1, 2: resume with those settings"):
            _run_before_train(changed, ToyDistiller(), start_iter=100)
    # a checkpoint of a run that started without the rule has no factor: no measuring part-way
    with pytest.raises(WeightRuleError, match="resumes at iteration 100 from a checkpoint without a measured"):
        _run_before_train(DistillWeightRule(0.1, 2, make_loader=no_loader), ToyDistiller(), start_iter=100)


def test_zero_distillation_or_a_non_finite_factor_cannot_be_applied():
    hook = DistillWeightRule(0.1, 1, make_loader=lambda: iter([4]))
    with pytest.raises(WeightRuleError, match="the distillation losses are 0"):
        _run_before_train(hook, ToyDistiller(weights=(0.0, 0.0)))
    for batch in (0.0, float("nan")):  # a detection loss of 0 (factor 0), or not finite
        hook = DistillWeightRule(0.1, 1, make_loader=lambda: iter([batch]))
        with pytest.raises(WeightRuleError, match="the measured factor is"):
            _run_before_train(hook, ToyDistiller())


def _cfg(**train):
    return SimpleNamespace(train=train)


def test_settings_are_checked():
    assert weight_rule_settings(_cfg()) is None
    assert weight_rule_settings(_cfg(distill_weight_target=None)) is None
    assert weight_rule_settings(_cfg(distill_weight_target=0.1)) == (0.1, 50)
    assert weight_rule_settings(_cfg(distill_weight_target=1, distill_weight_batches=3), ToyDistiller()) == (1.0, 3)
    for bad in (0, -0.1, True, "0.1", float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="give the wanted distillation total"):
            weight_rule_settings(_cfg(distill_weight_target=bad))
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError, match="train.distill_weight_batches"):
            weight_rule_settings(_cfg(distill_weight_target=0.1, distill_weight_batches=bad))
    with pytest.raises(ConfigError, match="the model is a plain Linear; remove the key"):
        weight_rule_settings(_cfg(distill_weight_target=0.1), nn.Linear(1, 1))


def test_a_resume_must_keep_the_rule_settings_the_run_started_with(tmp_path):
    """check_rule_resume reads the checkpoint --resume would load (last_checkpoint)."""
    from omegaconf import OmegaConf

    from d2kd.engine.weight_rule import WEIGHT_RULE_CHECKPOINTABLE, check_rule_resume

    def cfg(**rule):
        return OmegaConf.create({"train": {"output_dir": str(tmp_path), **rule}})

    ruled = cfg(distill_weight_target=0.5, distill_weight_batches=2)
    check_rule_resume(ruled, resume=True)  # no checkpoint yet: a fresh start
    torch.save({"model": {}, WEIGHT_RULE_CHECKPOINTABLE: {"factor": 3.0, "target": 0.5, "batches": 2}},
               tmp_path / "model_0000001.pth")
    (tmp_path / "last_checkpoint").write_text("model_0000001.pth")
    check_rule_resume(ruled, resume=True)  # the same settings
    check_rule_resume(cfg(), resume=False)  # not a resume: the checks of a fresh run apply
    for other, expected in [(cfg(), "resume with those (+train.distill_weight_target=0.5 "
                                    "+train.distill_weight_batches=2), not without them"),
                            (cfg(distill_weight_target=0.4, distill_weight_batches=2), "not with 0.4 and 2")]:
        with pytest.raises(ConfigError, match=re.escape(expected)):
            check_rule_resume(other, resume=True)
    torch.save({"model": {}}, tmp_path / "model_0000001.pth")  # a run started without the rule
    check_rule_resume(cfg(), resume=True)
    with pytest.raises(ConfigError, match="is a run that started without it"):
        check_rule_resume(ruled, resume=True)
