"""A run stopped at a checkpoint and resumed takes the steps of the run trained in one piece
(d2kd/engine/resume.py, through tools/lazyconfig_train_net.py): the same batches, the same
random draws, the same learning rate and optimizer state. Not bit for bit: a new process's
first convolution backward differs from the uninterrupted run's in the last bits (about 1e-15
of a gradient, oneDNN on the CPU), so the resumed steps are compared with the steps themselves:
the weights part by less than 1e-4 of the distance the last steps moved them (measured: under
1e-6), where a resume with other batches or other random masks parts by about that distance."""
import os
import shutil

import pytest
import torch
from test_mkd import MAIN as MKD_CONFIG
from test_mkd import _tiny_overrides, _write_teacher
from tool_runs import TINY_DATA, run_tool, shrink_model

from d2kd.engine.resume import RNG_CHECKPOINTABLE

PLAIN_CONFIG = "configs/Shapes/retinanet_R18_FPN.py"
# 6 iterations, a checkpoint and an evaluation after the 3rd (model_0000002.pth: the stop point)
SCHEDULE = ["train.max_iter=6", "train.checkpointer.period=3", "train.eval_period=6", "train.log_period=1"]
STOP_CHECKPOINT = "model_0000002.pth"


@pytest.fixture(scope="module")
def datasets_env(tmp_path_factory):
    return {"D2KD_DATASETS": str(tmp_path_factory.mktemp("datasets"))}


def _train(config, overrides, out, env, *flags):
    return run_tool("lazyconfig_train_net.py", *flags, "--config-file", config, *overrides,
                    f"train.output_dir={out}", env=env)


def _stopped_at(run, folder, checkpoint=STOP_CHECKPOINT):
    """``run``'s folder as a run stopped right after writing ``checkpoint`` left it."""
    shutil.copytree(run, folder)
    for name in os.listdir(folder):
        if name.startswith("model_") and name.endswith(".pth") and name > checkpoint:  # model_final sorts after
            os.remove(os.path.join(folder, name))
    with open(os.path.join(folder, "last_checkpoint"), "w") as f:
        f.write(checkpoint)
    return folder


def _weights(folder, name="model_final.pth"):
    checkpoint = torch.load(os.path.join(folder, name), map_location="cpu", weights_only=True)["model"]
    return {k: v.double() for k, v in checkpoint.items() if v.is_floating_point()}


def _assert_same_steps(whole, resumed, stop=STOP_CHECKPOINT):
    """The resumed run's final weights against the uninterrupted run's, relative to how far
    the steps after the stop moved the uninterrupted run's weights."""
    a, b, start = _weights(whole), _weights(resumed), _weights(whole, stop)
    assert a.keys() == b.keys()
    apart = sum(((a[k] - b[k]) ** 2).sum() for k in a) ** 0.5
    moved = sum(((a[k] - start[k]) ** 2).sum() for k in a) ** 0.5
    assert moved > 0 and apart / moved < 1e-4, f"resumed weights part by {apart / moved:.3g} of the steps"


def _resume_matches_one_piece(config, overrides, tmp_path, env):
    whole = tmp_path / "whole"
    _train(config, overrides, whole, env)
    checkpoint = torch.load(whole / STOP_CHECKPOINT, map_location="cpu", weights_only=True)
    assert RNG_CHECKPOINTABLE in checkpoint and {"torch", "numpy", "python"} <= set(checkpoint[RNG_CHECKPOINTABLE])
    resumed = _stopped_at(whole, tmp_path / "resumed")
    proc = _train(config, overrides, resumed, env, "--resume")
    log = proc.stdout + proc.stderr
    assert "Resume: skipped the 3 batches" in log and "RNG states (torch, numpy, python" in log
    _assert_same_steps(whole, resumed)
    return whole


@pytest.mark.parametrize("num_workers", [1, 0])
def test_a_resumed_plain_run_takes_the_steps_of_one_piece(num_workers, tmp_path, datasets_env):
    overrides = TINY_DATA + shrink_model() + SCHEDULE + [f"dataloader.train.num_workers={num_workers}"]
    _resume_matches_one_piece(PLAIN_CONFIG, overrides, tmp_path, datasets_env)


def test_a_resumed_mkd_run_draws_the_same_random_masks(tmp_path, datasets_env):
    overrides = _tiny_overrides() + SCHEDULE + ["dataloader.train.num_workers=1"]
    weights = _write_teacher(MKD_CONFIG, overrides, tmp_path / "teacher.pth")
    _resume_matches_one_piece(MKD_CONFIG, overrides + [f"model.teachers.weights={weights}"], tmp_path, datasets_env)


def test_a_checkpoint_without_rng_states_still_resumes_and_says_it_is_not_exact(tmp_path, datasets_env):
    overrides = TINY_DATA + shrink_model() + ["train.max_iter=4", "train.checkpointer.period=2",
                                              "train.eval_period=0", "train.log_period=1"]
    whole = tmp_path / "whole"
    _train(PLAIN_CONFIG, overrides, whole, datasets_env)
    old = _stopped_at(whole, tmp_path / "old", checkpoint="model_0000001.pth")
    path = old / "model_0000001.pth"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    del checkpoint[RNG_CHECKPOINTABLE]  # as written before the RNG states were saved
    torch.save(checkpoint, path)
    proc = _train(PLAIN_CONFIG, overrides, old, datasets_env, "--resume")
    log = proc.stdout + proc.stderr
    assert "holds no RNG states" in log and "not exact" in log
    assert (old / "model_final.pth").exists()
