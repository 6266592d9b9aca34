"""DFMSD end to end on the tiny dataset with the project's own config, shrunk: the box-cache
tool (``python -m dfmsd.cache_boxes``, resumable), then the two-stage run through
tools/lazyconfig_train_net.py."""
import json
import math
import os
from collections import OrderedDict

import pytest
import torch
from test_stages import tiny_datasets  # noqa: F401  (fixture)
from tool_runs import ROOT, SMALL_DFMSD_MODELS, load_tool, run_module, run_tool

from d2kd.config import ConfigError, apply_overrides_strictly, load_config
from d2kd.engine.stages import stage_config
from d2kd.utils.io import file_sha256
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog
from detectron2.engine import default_argument_parser
from dfmsd import cache_boxes

CONFIG = os.path.join(ROOT, "projects/DFMSD/configs/Shapes/dfmsd_R34_R50_to_R18_retinanet.py")


def _tiny_overrides(weak, strong):
    return [
        "dataloader.train.dataset.names=d2kd_shapes_tiny_train",
        "dataloader.test.dataset.names=d2kd_shapes_tiny_val",
        "dataloader.train.mapper.augmentations.0.short_edge_length=[96,112]",
        "dataloader.test.mapper.augmentations.0.short_edge_length=96",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
        "train.max_iter=2",
        "train.eval_period=2",
        "train.log_period=1",
        "model.min_input_size=96",
        *SMALL_DFMSD_MODELS,
        # random weights score low: keep every box, so that Area(x) is large and ME crops
        "+stages.0.model.teachers.model.test_score_thresh=0.0",
        f"model.teachers.weights={strong}",
        f"stages.0.model.teachers.weights={weak}",
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_datasets):  # noqa: F811
    tmp = tmp_path_factory.mktemp("dfmsd")
    overrides = _tiny_overrides(tmp / "weak.pth", tmp / "strong.pth")
    cfg = apply_overrides_strictly(load_config(CONFIG), overrides)
    for i in range(len(cfg.stages)):
        teacher = stage_config(cfg, i).model.teachers
        torch.manual_seed(i)
        torch.save({"model": instantiate(teacher.model).state_dict()}, teacher.weights)
    return tmp, overrides


def _run_cache_tool(overrides, cache, *extra):
    return cache_boxes.main(cache_boxes.parse_args(["--config-file", CONFIG, "--output", str(cache), *extra,
                                                    *overrides]))


@pytest.fixture(scope="module")
def box_cache(setup):
    """The weak teacher's boxes over the tiny training set (every box kept), and the tool's count."""
    tmp, overrides = setup
    cache = tmp / "boxes.json"
    return cache, _run_cache_tool(overrides, cache, "--score-threshold", "0.0")


@pytest.fixture(scope="module")
def two_stage_run(setup, box_cache):
    """The output folder of a two-stage run of the DFMSD config through the train tool."""
    tmp, overrides = setup
    out = tmp / "run"
    load_tool("lazyconfig_train_net").main(default_argument_parser().parse_args(
        ["--config-file", CONFIG, *overrides, f"dataloader.train.mapper.box_cache={box_cache[0]}",
         f"train.output_dir={out}"]
    ))
    return out


def test_cache_tool_writes_resumes_and_checks_settings(setup, box_cache):
    tmp, overrides = setup
    cache, count = box_cache

    def run():
        return _run_cache_tool(overrides, cache, "--score-threshold", "0.0")

    assert count == 24  # the tiny training set
    document = json.loads(cache.read_text())
    assert document["complete"] and document["datasets"] == ["d2kd_shapes_tiny_train"]
    assert document["score_threshold"] == 0.0 and document["teacher"]["weights"].endswith("weak.pth")
    assert document["teacher"]["sha256"] == file_sha256(str(tmp / "weak.pth"))  # the mapper compares it
    entry = next(iter(document["images"].values()))
    assert entry["boxes"] and len(entry["boxes"]) == len(entry["scores"])
    assert run() == 0  # complete: nothing to do

    # an interrupted run: five images missing, not complete -> only those five run again
    for key in list(document["images"])[:5]:
        del document["images"][key]
    document["complete"] = False
    cache.write_text(json.dumps(document))
    assert run() == 5
    assert json.loads(cache.read_text())["complete"]

    with pytest.raises(ConfigError, match="other settings"):
        _run_cache_tool(overrides, cache)
    # the weak teacher retrained at the same path: its cache is not continued
    (tmp / "weak_copy.pth").write_bytes((tmp / "weak.pth").read_bytes())
    weights = torch.load(tmp / "weak.pth")
    next(v for v in weights["model"].values() if v.is_floating_point()).add_(1.0)
    torch.save(weights, tmp / "weak.pth")
    try:
        with pytest.raises(ConfigError, match="other settings"):
            run()
    finally:
        os.replace(tmp / "weak_copy.pth", tmp / "weak.pth")


def test_cache_tool_takes_overrides_after_dataset_names(setup, tmp_path, capsys):
    """``--dataset NAME key=value ...``: the names end at the first key=value, the rest
    are the config's overrides (the weak teacher's weights among them), through the tool."""
    tmp, overrides = setup
    cache = tmp_path / "val_boxes.json"
    run_module("dfmsd.cache_boxes", "--config-file", CONFIG, "--output", cache, "--score-threshold", "0.5",
               "--dataset", "d2kd_shapes_tiny_val", *overrides)
    document = json.loads(cache.read_text())
    assert document["complete"] and document["datasets"] == ["d2kd_shapes_tiny_val"]
    assert document["teacher"]["weights"] == str(tmp / "weak.pth")  # an override after --dataset
    assert len(document["images"]) == len(DatasetCatalog.get("d2kd_shapes_tiny_val"))

    args = cache_boxes.parse_args(["--config-file", CONFIG, "--dataset", "a", "b", "x.y=1", "--stage", "2", "z=3"])
    assert (args.dataset, args.opts, args.stage) == (["a", "b"], ["x.y=1", "z=3"], 2)
    with pytest.raises(SystemExit):
        cache_boxes.parse_args(["--config-file", CONFIG, "--dataset", "a", "x.y=1", "b"])
    assert "'b' comes after the override 'x.y=1'" in capsys.readouterr().err


def test_the_old_tool_path_runs_the_module_after_a_notice(tmp_path):
    """tools/cache_teacher_boxes.py stays for the commands that name it (runs recorded before the
    move): it prints one line naming the new command, then runs that with the same
    arguments."""
    notice = "tools/cache_teacher_boxes.py is deprecated: use python -m dfmsd.cache_boxes (the same arguments)"
    shown = run_tool("cache_teacher_boxes.py", "--help")
    assert [line for line in shown.stderr.splitlines() if "cache_teacher_boxes" in line] == [notice]
    assert shown.stdout.startswith("usage: python -m dfmsd.cache_boxes ") and "--score-threshold" in shown.stdout
    assert shown.stdout == run_module("dfmsd.cache_boxes", "--help").stdout
    missing = tmp_path / "none.py"  # a run: the module's own check and error
    ran = run_tool("cache_teacher_boxes.py", "--config-file", missing, check=False)
    assert ran.returncode == 1 and notice in ran.stderr.splitlines()
    assert ran.stderr.strip().splitlines()[-1].startswith(f"Error: Config file not found: {str(missing)!r}.")


def test_two_stage_dfmsd_run_through_the_tool(setup, box_cache, two_stage_run, capsys):
    tmp, overrides = setup
    out = two_stage_run
    tool = load_tool("lazyconfig_train_net")

    def metrics(stage):
        with open(out / stage / "metrics.json") as f:
            return [json.loads(line) for line in f if line.strip()]

    first = [r for r in metrics("stage1") if "total_loss" in r]
    second = [r for r in metrics("stage2") if "total_loss" in r]
    assert [r["iteration"] for r in first] == [0, 1] == [r["iteration"] for r in second]
    assert "loss_dfmsd_spatial_p3" in first[0] and "loss_dfmsd_sfa_p5" in first[0]
    assert not any("_me_" in k for k in first[0])  # ME only in the last stage (paper table 8)
    assert {"loss_dfmsd_me_spatial_p3", "loss_dfmsd_me_channel_p7", "dfmsd/me_crop"} <= set(second[0])
    assert second[0]["dfmsd/me_crop"] == 1.0  # every cached box kept: Area(x) >= lambda everywhere
    summary = json.loads((out / "stages_summary.json").read_text())["stages"]
    assert [r["name"] for r in summary] == ["weak", "strong"]
    assert summary[0]["teacher"].endswith("weak.pth)") and summary[1]["teacher"].endswith("strong.pth)")
    assert all("bbox/AP" in r["results"] for r in summary)
    assert (out / "stages_summary.md").exists() and (out / "config.yaml").exists()

    # --eval-only evaluates the final student with the top-level model (the last stage's)
    capsys.readouterr()
    tool.main(
        default_argument_parser().parse_args(
            ["--config-file", CONFIG, "--eval-only", *overrides, f"train.output_dir={tmp}/eval",
             f"train.init_checkpoint={out}/stage2/model_final.pth"]
        )
    )
    line = [x for x in capsys.readouterr().out.splitlines() if "'bbox'" in x][-1]
    printed = eval(line, {"OrderedDict": OrderedDict, "nan": math.nan})  # noqa: S307  (the tool prints a dict)
    assert printed["bbox"]["AP50"] == pytest.approx(summary[1]["results"]["bbox/AP50"], abs=1e-6, nan_ok=True)

    # a missing box cache is an error before anything trains
    with pytest.raises(ConfigError, match="does not exist"):
        tool.main(
            default_argument_parser().parse_args(
                ["--config-file", CONFIG, *overrides, f"dataloader.train.mapper.box_cache={tmp}/none.json",
                 f"train.output_dir={tmp}/run2"]
            )
        )
    assert not (tmp / "run2" / "stage1" / "metrics.json").exists()

    # a box cache made by another teacher than stage 1's: an error before anything trains
    document = json.loads(box_cache[0].read_text())
    document["teacher"]["sha256"] = "0" * 64
    foreign = tmp / "foreign_boxes.json"
    foreign.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"Stage 2 \(strong\).*made by the teacher checkpoint .*not by .*weak.pth"):
        tool.main(
            default_argument_parser().parse_args(
                ["--config-file", CONFIG, *overrides, f"dataloader.train.mapper.box_cache={foreign}",
                 f"train.output_dir={tmp}/run3"]
            )
        )
    assert not (tmp / "run3" / "stage1" / "metrics.json").exists()


def test_pictures_of_me_decisions_and_attention(setup):
    tmp, overrides = setup
    from dfmsd import visualize

    written = visualize.main(
        ["--config-file", CONFIG, "--count", "2", "--output-dir", str(tmp / "pictures"), *overrides,
         "dataloader.train.mapper.box_cache="]
    )
    assert sorted(os.path.basename(p) for p in written) == ["attention_0.png", "attention_1.png", "me_0.png", "me_1.png"]
    assert all(os.path.getsize(p) > 1000 for p in written)


def test_figure4_student_features_after_each_stage(setup, two_stage_run):
    """Paper figure 4: tools/visualize_features.py with one --student per SAL stage checkpoint."""
    from PIL import Image

    tmp, overrides = setup
    stages = [two_stage_run / "stage1" / "model_final.pth", two_stage_run / "stage2" / "model_final.pth"]
    assert all(p.is_file() for p in stages)
    written = load_tool("visualize_features").main(
        ["--config-file", CONFIG, "--student", f"after stage 1={stages[0]}", "--student", f"after stage 2={stages[1]}",
         "--levels", "p3", "p4", "--output-dir", str(tmp / "figure4"), *overrides]
    )
    assert [os.path.basename(p) for p in written] == ["features.png"]
    with Image.open(written[0]) as image:
        assert image.size == (780, 820)  # the input, then 2 levels x (teacher, after stage 1, after stage 2)
        assert len(set(image.convert("L").getdata())) > 50  # not a blank canvas
