"""tools/lazyconfig_train_net.py end to end, on the tiny bundled dataset, in subprocesses."""
import json
import math
import os

import pytest
from tool_runs import TINY_DATA, TINY_SCHEDULE, read_metrics, run_tool, shrink_model

CONFIG = "configs/Shapes/retinanet_R18_FPN.py"
# a tiny RetinaNet that outputs low-score boxes too, so that AP is a number, not NaN
TINY_RETINANET = TINY_DATA + TINY_SCHEDULE + shrink_model() + ["+model.test_score_thresh=0.0"]


@pytest.fixture(scope="module")
def datasets_env(tmp_path_factory):
    return {"D2KD_DATASETS": str(tmp_path_factory.mktemp("datasets"))}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, datasets_env):
    out = tmp_path_factory.mktemp("run")
    proc = run_tool(
        "lazyconfig_train_net.py", "--config-file", CONFIG, *TINY_RETINANET,
        f"train.output_dir={out}", env=datasets_env,
    )
    return out, proc


def test_training_writes_logs_metrics_checkpoints_and_coco_ap(trained_run):
    out, proc = trained_run
    records = read_metrics(out)
    train_iters = [r["iteration"] for r in records if "total_loss" in r]
    assert train_iters == [0, 1, 2, 3]
    assert all(math.isfinite(r["loss_cls"]) for r in records if "loss_cls" in r)
    evals = [r for r in records if "bbox/AP" in r]
    assert len(evals) == 1
    assert set(evals[0]) >= {"bbox/AP", "bbox/AP50", "bbox/AP75", "bbox/APs", "bbox/APm", "bbox/APl"}
    assert 0.0 <= evals[0]["bbox/AP50"] <= 100.0
    for name in ("model_final.pth", "model_0000001.pth", "last_checkpoint", "config.yaml", "log.txt"):
        assert (out / name).exists(), name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out))
    log = (out / "log.txt").read_text()
    assert "eta:" in log and "copypaste: AP,AP50,AP75,APs,APm,APl" in log
    assert "use_fast_impl" not in proc.stderr  # the pycocotools path ran without complaint


def test_resume_continues_and_a_second_fresh_run_is_refused(trained_run, datasets_env):
    out, _ = trained_run
    refused = run_tool(
        "lazyconfig_train_net.py", "--config-file", CONFIG, *TINY_RETINANET,
        f"train.output_dir={out}", env=datasets_env, check=False,
    )
    assert refused.returncode != 0
    assert "already holds checkpoints" in refused.stderr and "--resume" in refused.stderr
    run_tool(
        "lazyconfig_train_net.py", "--resume", "--config-file", CONFIG, *TINY_RETINANET,
        "train.max_iter=6", "train.eval_period=6", f"train.output_dir={out}", env=datasets_env,
    )
    iters = [r["iteration"] for r in read_metrics(out) if "total_loss" in r]
    assert iters == [0, 1, 2, 3, 4, 5]


def test_eval_only_reproduces_the_final_evaluation(trained_run, datasets_env, tmp_path):
    out, _ = trained_run
    final_ap = [r for r in read_metrics(out) if "bbox/AP" in r][0]
    proc = run_tool(
        "lazyconfig_train_net.py", "--eval-only", "--config-file", CONFIG, *TINY_RETINANET,
        f"train.init_checkpoint={out}/model_0000003.pth", f"train.output_dir={tmp_path}",
        env=datasets_env,
    )
    line = [l for l in proc.stdout.splitlines() if "'bbox'" in l][-1]
    from collections import OrderedDict

    # the tool prints the results dict (as detectron2's does); read it back
    results = eval(line, {"OrderedDict": OrderedDict, "nan": math.nan})  # noqa: S307
    assert results["bbox"]["AP50"] == pytest.approx(final_ap["bbox/AP50"], abs=1e-9)
    # and writes them, where detectron2 users look: results.json in its output folder (NaN as null)
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["init_checkpoint"] == f"{out}/model_0000003.pth"
    written = document["results"]["d2kd_shapes_tiny_val"]["bbox"]
    assert written == {k: None if math.isnan(v) else v for k, v in results["bbox"].items()}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config-file", "configs/Shapes/retinanet_R18.py"], "Did you mean: configs/Shapes/retinanet_R18_FPN.py"),
        (["--config-file", CONFIG, "train.max_iters=3"], "Did you mean: train.max_iter"),
        (["--config-file", CONFIG, "dataloader.train.dataset.names=coco_2017_tran"], "is not registered"),
        (["--config-file", CONFIG, "train.output_dir=/proc/d2kd"], "not writable"),
        (["--config-file", CONFIG, "train.amp.enabled=True", "train.device=cpu"], "needs a CUDA device"),
        (["--eval-only", "--config-file", CONFIG], "--eval-only needs the weights"),
        (["--config-file", CONFIG, "train.init_checkpoint=missing.pth"], "does not exist"),
        # values of the wrong type or out of range (plain runs; staged runs check each stage alike)
        (["--config-file", CONFIG, "train.max_iter=abc"], "train.max_iter is a number (now 1500), and 'abc' is not"),
        (["--config-file", CONFIG, "optimizer.lr=fast"], "optimizer.lr is a number (now 0.001), and 'fast' is not"),
        (["--config-file", CONFIG, "optimizer.lr=nan"], "optimizer.lr must be a finite number, got nan"),
        (["--config-file", CONFIG, "train.max_iter=2.5"], "train.max_iter=2.5: give a whole number >= 1"),
        (["--config-file", CONFIG, "train.max_iter=1e3"], "train.max_iter=1000.0: give a whole number >= 1"),
        (["--config-file", CONFIG, "+train.loss_explosion_factor=0.5"], "train.loss_explosion_factor=0.5: give a "
                                                                         "number above 1"),
        (["--config-file", CONFIG, "train.max_iter=0"], "train.max_iter=0: give a whole number >= 1"),
        (["--config-file", CONFIG, "train.checkpointer.period=0"], "train.checkpointer.period=0: give a whole"),
        (["--config-file", CONFIG, "dataloader.train.total_batch_size=0"],
         "dataloader.train.total_batch_size=0: give a whole number >= 1"),
        (["--config-file", CONFIG, *TINY_DATA, "model.num_classes=3"], "model.num_classes=3, but the training set "
                                                            "'d2kd_shapes_tiny_train' has 6 categories (circle, "
                                                            "ellipse"),
        (["--config-file", CONFIG, "train.max_iter=3", "--resume"], "'--resume' is a flag written after the "
                                                                      "key=value overrides"),
    ],
)
def test_bad_input_is_a_clear_error_before_training(args, message, datasets_env, tmp_path):
    has_output_dir = any(a.startswith("train.output_dir=") for a in args)
    extra = [] if has_output_dir else [f"train.output_dir={tmp_path}"]
    proc = run_tool("lazyconfig_train_net.py", *args, *extra, env=datasets_env, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Starting training" not in proc.stdout + proc.stderr
    if not has_output_dir:  # nothing written before the error
        assert not list(tmp_path.iterdir())


def test_a_corrupt_image_is_named_before_training(tmp_path):
    root = tmp_path / "datasets"
    env = {"D2KD_DATASETS": str(root)}
    run_tool("make_dataset.py", "--scale", "tiny", "--root", root, env=env)
    victim = sorted((root / "tiny" / "val" / "images").iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:100])
    proc = run_tool(
        "lazyconfig_train_net.py", "--config-file", CONFIG, *TINY_DATA,
        f"train.output_dir={tmp_path / 'out'}", env=env, check=False,
    )
    assert proc.returncode != 0
    assert victim.name in proc.stderr and "Starting training" not in proc.stderr


def test_missing_detectron2_says_how_to_install(tmp_path):
    import subprocess
    import sys

    from tool_runs import ROOT

    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['detectron2'] = None\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "lazyconfig_train_net.py"), "--config-file", CONFIG],
        env=env, capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode != 0
    assert "detectron2 is not installed" in proc.stderr and "make setup" in proc.stderr


def test_eval_only_in_a_runs_folder_keeps_the_runs_files_and_skips_the_training_set(
    trained_run, datasets_env, tmp_path
):
    """--eval-only with the run's own output_dir: its config.yaml is not replaced, the
    evaluation's files go to <run>/eval (then eval_2, ...), and a training set that does
    not exist is neither loaded nor checked."""
    out, _ = trained_run
    config_before = (out / "config.yaml").read_bytes()
    args = ["lazyconfig_train_net.py", "--eval-only", "--config-file", CONFIG, *TINY_RETINANET,
            f"train.init_checkpoint={out}/model_final.pth", f"train.output_dir={out}",
            "dataloader.train.dataset.names=no_such_training_set"]
    first = run_tool(*args, env=datasets_env)
    assert (out / "config.yaml").read_bytes() == config_before
    assert (out / "eval" / "config.yaml").exists() and (out / "eval" / "log.txt").exists()
    assert f"{out} holds a run; this evaluation's config.yaml and log go to {out}/eval" in first.stdout + first.stderr
    run_tool(*args, env=datasets_env)
    assert (out / "eval_2" / "config.yaml").exists()
    assert (out / "config.yaml").read_bytes() == config_before


def test_init_checkpoint_of_a_run_folder_resolves_to_its_final_or_latest_checkpoint(tmp_path):
    from d2kd.config import ConfigError, resolve_init_checkpoint

    finished = tmp_path / "finished"
    finished.mkdir()
    for name in ("model_0000001.pth", "model_final.pth"):
        (finished / name).write_bytes(b"x")
    (finished / "last_checkpoint").write_text("model_final.pth")
    assert resolve_init_checkpoint(str(finished)) == str(finished / "model_final.pth")

    stopped = tmp_path / "stopped"  # a run stopped before its end: detectron2's last_checkpoint
    stopped.mkdir()
    for name in ("model_0000001.pth", "model_0000003.pth"):
        (stopped / name).write_bytes(b"x")
    (stopped / "last_checkpoint").write_text("model_0000003.pth")
    assert resolve_init_checkpoint(str(stopped)) == str(stopped / "model_0000003.pth")

    (stopped / "model_0000003.pth").unlink()
    with pytest.raises(ConfigError, match=r"last_checkpoint names 'model_0000003.pth', which does not exist"):
        resolve_init_checkpoint(str(stopped))

    staged = tmp_path / "staged"  # no checkpoint of its own: a SAL run's stages hold them
    (staged / "stage1").mkdir(parents=True)
    (staged / "stage1" / "model_final.pth").write_bytes(b"x")
    (staged / "log.txt").write_text("")
    with pytest.raises(ConfigError) as error:
        resolve_init_checkpoint(str(staged))
    message = str(error.value)
    assert f"train.init_checkpoint='{staged}' is a folder with neither model_final.pth" in message
    assert "it holds: log.txt, stage1/." in message
    assert f"train.init_checkpoint={staged}/stage1/model_final.pth" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="; it is empty. Give train.init_checkpoint=<a .pth file>"):
        resolve_init_checkpoint(str(tmp_path / "empty"))

    assert resolve_init_checkpoint(str(finished / "model_0000001.pth")) == str(finished / "model_0000001.pth")
    assert resolve_init_checkpoint("") == ""
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_init_checkpoint(str(tmp_path / "missing"))


def test_eval_only_of_a_run_folder_evaluates_its_final_model(trained_run, datasets_env, tmp_path):
    out, _ = trained_run
    final_ap = [r for r in read_metrics(out) if "bbox/AP" in r][-1]  # the evaluation of model_final.pth
    proc = run_tool(
        "lazyconfig_train_net.py", "--eval-only", "--config-file", CONFIG, *TINY_RETINANET,
        f"train.init_checkpoint={out}", f"train.output_dir={tmp_path}", env=datasets_env,
    )
    assert f"train.init_checkpoint={out} is a run folder: loading {out}/model_final.pth" in proc.stderr
    line = [l for l in proc.stdout.splitlines() if "'bbox'" in l][-1]
    from collections import OrderedDict

    results = eval(line, {"OrderedDict": OrderedDict, "nan": math.nan})  # noqa: S307
    assert results["bbox"]["AP50"] == pytest.approx(final_ap["bbox/AP50"], abs=1e-9)
