"""DFMSD on one's own COCO data, as the README walks through it: the weak first-stage
teacher named by its own key (``stages.0.model.teachers.weights``), the box cache named
after the training set actually configured and the override that points the run at it,
the weak teacher's class count named by its key (never ``allow_partial_weights``), the
two-stage run, and ``python -m dfmsd.visualize`` on the ``+datasets.<name>`` declarations.

The own dataset is the ``own_coco`` fixture (tests/own_coco.py); the teachers have random
weights (only their shapes matter here). Each test runs in its own working folder, where
the configs' relative paths (``output/teachers/...``, ``output/DFMSD/box_cache/...``) point."""
import json
import os

import pytest
import torch
from own_coco import own_data
from tool_runs import ROOT, SMALL_DFMSD_MODELS, load_tool

from d2kd.config import ConfigError, load_config, load_tool_config
from d2kd.engine.stages import stage_config
from detectron2.config import instantiate
from detectron2.engine import default_argument_parser
from dfmsd import cache_boxes

CONFIG = os.path.join(ROOT, "projects/DFMSD/configs/Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py")
WEAK_DEFAULT = "output/teachers/faster_rcnn_R34_FPN/model_final.pth"  # the config's weak teacher
SMALL = SMALL_DFMSD_MODELS + [
    # the own dataset's 2 classes, for the student and both teachers
    "model.student.roi_heads.num_classes=2",
    "model.teachers.model.roi_heads.num_classes=2",
    "stages.0.model.teachers.model.roi_heads.num_classes=2",
    # random weights score low: keep every box
    "+stages.0.model.teachers.model.roi_heads.box_predictor.test_score_thresh=0.0",
    "model.min_input_size=112",
    "train.max_iter=2",
    "train.eval_period=2",
    "train.log_period=1",
]
MAPPED_CACHE = "output/DFMSD/box_cache/weak_teacher_own_train.json"  # <weak teacher's run folder>_<train set>


@pytest.fixture(scope="module")
def teachers(own_coco, tmp_path_factory):
    """(overrides, weak checkpoint): the data, the small sizes and the strong teacher's weights;
    the weak teacher is a run folder's model_final.pth (its name names the box cache)."""
    folder = tmp_path_factory.mktemp("dfmsd_own_teachers")
    overrides = own_data(own_coco) + SMALL
    cfg = load_tool_config(CONFIG, overrides)
    (folder / "weak_teacher").mkdir()
    paths = [folder / "weak_teacher" / "model_final.pth", folder / "strong.pth"]
    for i, path in enumerate(paths):
        torch.manual_seed(i)
        torch.save({"model": instantiate(stage_config(cfg, i).model.teachers.model).state_dict()}, path)
    return overrides + [f"model.teachers.weights={paths[1]}"], paths[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("dfmsd_own_workdir")


def _train(*overrides):
    tool = load_tool("lazyconfig_train_net")
    return tool.main(default_argument_parser().parse_args(["--config-file", CONFIG, *overrides]))


def _cache(*arguments):
    return cache_boxes.main(cache_boxes.parse_args(["--config-file", CONFIG, *arguments]))


@pytest.fixture(scope="module")
def box_cache(teachers, workdir):
    """The box cache at its default path, made as the README says, and what the tool printed."""
    import contextlib
    import io

    overrides, weak = teachers
    printed = io.StringIO()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(printed):
            count = _cache(*overrides, f"stages.0.model.teachers.weights={weak}")
    finally:
        os.chdir(cwd)
    return count, printed.getvalue()


def test_a_missing_teacher_is_named_by_the_key_that_sets_it(teachers, tmp_path, monkeypatch):
    overrides, weak = teachers
    monkeypatch.chdir(tmp_path)  # no output/teachers/ here: the config's weak teacher is missing
    with pytest.raises(ConfigError) as error:
        _train(*overrides, "train.output_dir=run")
    message = str(error.value)
    assert message.startswith(f"Stage 1 (weak): Teacher weights stages.0.model.teachers.weights='{WEAK_DEFAULT}' "
                              "do not exist."), message
    assert message.endswith("or pass stages.0.model.teachers.weights=<path> of an existing checkpoint.")
    assert " model.teachers.weights" not in message  # not the strong teacher's key
    assert not (tmp_path / "run").exists()  # nothing written, no empty folder

    with pytest.raises(ConfigError) as error:
        _cache(*overrides)
    message = str(error.value)
    assert message.startswith(f"Teacher weights stages.0.model.teachers.weights='{WEAK_DEFAULT}' do not exist.")
    assert message.endswith("pass stages.0.model.teachers.weights=<its model_final.pth>.")

    # the strong teacher, which the second stage takes from the top level, by its own key
    with pytest.raises(ConfigError, match=r"^Stage 2 \(strong\): Teacher weights model.teachers.weights='nowhere.pth'"):
        _train(*overrides, f"stages.0.model.teachers.weights={weak}", "model.teachers.weights=nowhere.pth",
               "train.output_dir=run")


def test_the_weak_teachers_class_count_is_named_by_its_key_never_allow_partial_weights(
        teachers, tmp_path, monkeypatch):
    overrides, weak = teachers
    monkeypatch.chdir(tmp_path)
    wrong = [f"stages.0.model.teachers.weights={weak}", "stages.0.model.teachers.model.roi_heads.num_classes=3"]
    with pytest.raises(ConfigError) as error:
        _cache(*overrides, *wrong)
    message = str(error.value)
    assert message.startswith(f"Weights '{weak}' do not match the model config: ")
    assert message.endswith("The file was trained with 2 classes: set "
                            "stages.0.model.teachers.model.roi_heads.num_classes=2."), message
    assert "allow_partial_weights" not in message and "Train" not in message
    # the training tool names the same key
    with pytest.raises(ConfigError) as error:
        _train(*overrides, *wrong, "dataloader.train.mapper.box_cache=", "train.output_dir=run")
    assert str(error.value).endswith("set stages.0.model.teachers.model.roi_heads.num_classes=2.")
    assert not (tmp_path / "run").exists()

    # another mismatch: the teacher's own model config, not a half-random teacher
    with pytest.raises(ConfigError) as error:
        _cache(*overrides, f"stages.0.model.teachers.weights={weak}",
               "stages.0.model.teachers.model.backbone.out_channels=16")
    message = str(error.value)
    assert "set stages.0.model.teachers.model to the model config its checkpoint was trained with" in message
    assert "set allow_partial_weights" not in message and "or allow_partial_weights" not in message


def test_the_box_cache_is_named_after_the_configured_training_set(box_cache, workdir):
    count, printed = box_cache
    assert count == 4  # the own training set
    document = json.loads((workdir / MAPPED_CACHE).read_text())
    assert document["complete"] and document["datasets"] == ["own_train"]
    # the config reads the bundled data's cache: the tool names the override for the run
    assert printed.splitlines()[-1] == f"  dataloader.train.mapper.box_cache={MAPPED_CACHE}"
    assert "faster_rcnn_R34_FPN_d2kd_shapes_bench_train.json" in printed


@pytest.mark.parametrize("config", ["dfmsd_R34_R18w64_to_R18_faster_rcnn.py", "dfmsd_R34_R50_to_R18_retinanet.py",
                                    "dfmsd_swin_nano_micro_to_R18_retinanet.py",
                                    "dfmsd_faster_rcnn_R34_R18w64_to_R18_retinanet.py"])
def test_on_the_bundled_data_the_default_name_is_the_path_the_config_reads(config):
    cfg = load_config(os.path.join(ROOT, "projects/DFMSD/configs/Shapes", config))
    box_cache, names, key = cache_boxes._me_target(cfg, 1)
    weak = stage_config(cfg, 0).model.teachers.weights
    assert key == "dataloader.train.mapper.box_cache"
    assert cache_boxes.default_output(box_cache, weak, [names]) == box_cache


def test_the_two_stage_run_and_its_pictures_on_own_data(teachers, box_cache, workdir, monkeypatch):
    """The README's walk-through: the run, pointed at the cache by the printed override, then
    python -m dfmsd.visualize with the run's overrides (the +datasets declarations among them)."""
    from PIL import Image

    from dfmsd import visualize

    overrides, weak = teachers
    monkeypatch.chdir(workdir)
    run = [*overrides, f"stages.0.model.teachers.weights={weak}", f"dataloader.train.mapper.box_cache={MAPPED_CACHE}"]
    _train(*run, "train.output_dir=output/own_dfmsd")
    summary = json.loads((workdir / "output/own_dfmsd/stages_summary.json").read_text())["stages"]
    assert [row["name"] for row in summary] == ["weak", "strong"]
    assert (workdir / "output/own_dfmsd/model_final.pth").is_file()

    drawn, real_figure = [], visualize.attention_figure
    monkeypatch.setattr(visualize, "attention_figure",
                        lambda *args, **kwargs: drawn.append(kwargs["image"]) or real_figure(*args, **kwargs))
    written = visualize.main(["--config-file", CONFIG, "--count", "1", "--output-dir", "pictures", *run])
    assert sorted(os.path.basename(p) for p in written) == ["attention_0.png", "me_0.png"]
    assert [tuple(image.shape) for image in drawn] == [(3, 112, 112)]  # the input image beside the attention
    with Image.open(workdir / "pictures" / "attention_0.png") as image:
        assert len(set(image.convert("L").getdata())) > 50  # not a blank canvas
