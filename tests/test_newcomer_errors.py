"""What a newcomer trips on (issue 29, part 2), caught before training with the fix named:
a test json whose categories differ from the training json's, --eval-only of a distillation
config without its teachers' checkpoints (and its results.json), a teacher whose num_classes
differs from its checkpoint, a distillation run's checkpoint given as a teacher's weights,
a model that cannot be built (a negative loss weight) in a plain run, a box of negative
size (what detectron2's own mapper does with it), a run folder of another kind (a plain run
into a staged run's folder and back), and the checks' warnings in the run's log.txt.

The own COCO dataset of tests/own_coco.py (the ``own_coco`` fixture): two classes (ids 3 and 7), 112 px."""
import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from own_coco import CATEGORIES, SIZE, own_data, write_coco_split
from test_own_coco_dataset import MKD_CONFIG, STUDENT_CONFIG, TEACHER_SIZE
from tool_runs import run_tool, shrink_model

from d2kd.config import ConfigError

TEACHER_OVERRIDES = [f"model.teachers.model.{o}" for o in TEACHER_SIZE]
STUDENT_OVERRIDES = shrink_model("model.student") + ["model.student.roi_heads.num_classes=2",
                                                     "model.min_input_size=112"]


@pytest.fixture(scope="module")
def dataset(own_coco):
    return own_coco


def _with_categories(dataset, folder, categories, annotations_of=None):
    """A copy of ``dataset`` (its images linked) whose val json lists ``categories``; the
    val annotations of the categories it no longer lists are dropped."""
    folder.mkdir()
    (folder / "images").symlink_to(dataset / "images")
    (folder / "train.json").write_text((dataset / "train.json").read_text())
    val = json.loads((dataset / "val.json").read_text())
    ids = {c["id"] for c in categories}
    val["annotations"] = [a for a in val["annotations"] if a["category_id"] in ids]
    val["categories"] = categories
    (folder / "val.json").write_text(json.dumps(val))
    return folder


def _load(config, overrides):
    from d2kd.config import load_tool_config

    return load_tool_config(config, overrides)


@pytest.fixture(scope="module")
def teacher_checkpoint(dataset, tmp_path_factory):
    """A 2-class teacher of the MKD config (random weights: only its shapes matter here)."""
    from detectron2.config import instantiate

    cfg = _load(MKD_CONFIG, TEACHER_OVERRIDES + ["model.teachers.model.roi_heads.num_classes=2"])
    path = tmp_path_factory.mktemp("newcomer_teacher") / "teacher.pth"
    torch.save({"model": instantiate(cfg.model.teachers.model).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def student_checkpoints(dataset, tmp_path_factory):
    """(plain, distillation) checkpoints of the same 2-class student: the distillation run's
    holds it under ``student.``, beside an adapter, as a DistillationDetector saves it."""
    from detectron2.config import instantiate

    cfg = _load(STUDENT_CONFIG, shrink_model() + ["model.roi_heads.num_classes=2"])
    torch.manual_seed(0)
    state = instantiate(cfg.model).state_dict()
    folder = tmp_path_factory.mktemp("newcomer_student")
    torch.save({"model": state}, folder / "plain.pth")
    distilled = {f"student.{k}": v for k, v in state.items()}
    distilled["adapters.teacher.p2.weight"] = torch.zeros(24, 16, 1, 1)
    torch.save({"model": distilled, "iteration": 1}, folder / "distilled.pth")
    return folder / "plain.pth", folder / "distilled.pth"


# --- 1. every split's categories, before training ---------------------------------------

def _metadata(name, classes, ids=None):
    from detectron2.data import MetadataCatalog

    if name in MetadataCatalog.list():
        MetadataCatalog.remove(name)
    meta = {"thing_classes": classes, "json_file": f"/data/{name}.json"}
    if ids is not None:
        meta["thing_dataset_id_to_contiguous_id"] = {i: k for k, i in enumerate(ids)}
    MetadataCatalog.get(name).set(**meta)


def test_split_categories_are_compared_by_count_and_names():
    from d2kd.config import check_split_categories

    cfg = OmegaConf.create({"model": {"roi_heads": {"num_classes": 2}}})
    _metadata("nc_train", ["tree", "shrub"], [1, 2])
    _metadata("nc_val_same", ["tree", "shrub"], [1, 2])
    _metadata("nc_val_other_ids", ["tree", "shrub"], [5, 9])  # the same classes under other ids: fine
    _metadata("nc_val_fewer", ["tree"], [1])
    _metadata("nc_val_swapped", ["shrub", "tree"], [1, 2])
    assert check_split_categories(cfg, [("train", "nc_train"), ("test", "nc_val_same"),
                                        ("test", "nc_val_other_ids")]) == (True, [])
    with pytest.raises(ConfigError) as error:
        check_split_categories(cfg, [("train", "nc_train"), ("test", "nc_val_fewer")])
    assert str(error.value) == (
        "The test set 'nc_val_fewer' (dataloader.test.dataset.names, /data/nc_val_fewer.json) has 1 category "
        "(id 1 tree), but the training set 'nc_train' (dataloader.train.dataset.names, /data/nc_train.json) "
        "has 2 categories (id 1 tree, id 2 shrub), which the model predicts (model.roi_heads.num_classes=2): "
        "its evaluation would fail after training, or score each class under another's name. Every split "
        "lists the training json's categories: copy the \"categories\" of /data/nc_train.json into "
        "/data/nc_val_fewer.json (the same ids and names; a category without annotations stays listed).")
    with pytest.raises(ConfigError, match="'nc_val_swapped' .* has 2 categories \\(id 1 shrub, id 2 tree\\)"):
        check_split_categories(cfg, [("train", "nc_train"), ("test", "nc_val_swapped")])
    # --eval-only: no training set, the test set against the model
    with pytest.raises(ConfigError, match=r"^model.roi_heads.num_classes=2, but the test set 'nc_val_fewer' "
                                          r".* or set model.roi_heads.num_classes=1 if the model was trained"):
        check_split_categories(cfg, [("test", "nc_val_fewer")])
    # a split whose categories are not known yet (a json not read): checked later
    assert check_split_categories(cfg, [("train", "nc_train"), ("test", "nc_not_read_yet")]) == (False, [])


def test_a_val_json_with_other_categories_stops_training_and_eval_only(dataset, student_checkpoints, tmp_path):
    folder = _with_categories(dataset, tmp_path / "data", [CATEGORIES[0]])
    out = tmp_path / "run"
    proc = run_tool("lazyconfig_train_net.py", "--config-file", STUDENT_CONFIG, *own_data(folder),
                    *shrink_model(), "model.roi_heads.num_classes=2", "train.max_iter=1", "train.eval_period=1",
                    f"train.output_dir={out}", check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Config error: The test set 'own_val' (dataloader.test.dataset.names, "
                           f"{folder / 'val.json'}) has 1 category (id 3 square), but the training set "
                           f"'own_train' (dataloader.train.dataset.names, {folder / 'train.json'}) has 2 "
                           "categories (id 3 square, id 7 disk)"), last
    assert f"copy the \"categories\" of {folder / 'train.json'} into {folder / 'val.json'}" in last
    assert not out.exists() or not list(out.iterdir())  # before anything trains, or is written

    plain, _ = student_checkpoints
    evaluated = run_tool("lazyconfig_train_net.py", "--eval-only", "--config-file", STUDENT_CONFIG,
                         *own_data(folder), *shrink_model(), "model.roi_heads.num_classes=2",
                         f"train.init_checkpoint={plain}", f"train.output_dir={tmp_path / 'eval'}", check=False)
    assert evaluated.returncode == 1
    last = evaluated.stderr.strip().splitlines()[-1]
    assert last.startswith("Config error: model.roi_heads.num_classes=2, but the test set 'own_val' "
                           f"(dataloader.test.dataset.names, {folder / 'val.json'}) has 1 category"), last


# --- 2. --eval-only of a distillation config: no teacher, and a results.json ------------------

def test_eval_only_of_a_distillation_config_needs_no_teacher_and_writes_results(
        dataset, student_checkpoints, tmp_path):
    plain, distilled = student_checkpoints
    test_score = "+model.student.roi_heads.box_predictor.test_score_thresh=0.0"
    run_tool("lazyconfig_train_net.py", "--eval-only", "--config-file", MKD_CONFIG, *own_data(dataset),
             *STUDENT_OVERRIDES, *TEACHER_OVERRIDES, test_score,
             f"model.teachers.weights={tmp_path / 'never_trained_teacher.pth'}",
             f"train.init_checkpoint={distilled}", f"train.output_dir={tmp_path / 'mkd_eval'}")
    document = json.loads((tmp_path / "mkd_eval" / "results.json").read_text())
    assert document["init_checkpoint"] == str(distilled)
    assert set(document["results"]) == {"own_val"}
    metrics = document["results"]["own_val"]["bbox"]
    assert {"AP", "AP50", "AP-square", "AP-disk"} <= set(metrics)

    # the same student, as a plain checkpoint of the student's own config, scores the same
    run_tool("lazyconfig_train_net.py", "--eval-only", "--config-file", STUDENT_CONFIG, *own_data(dataset),
             *shrink_model(), "model.roi_heads.num_classes=2", "+model.roi_heads.box_predictor.test_score_thresh=0.0",
             f"train.init_checkpoint={plain}", f"train.output_dir={tmp_path / 'plain_eval'}")
    plain_document = json.loads((tmp_path / "plain_eval" / "results.json").read_text())
    assert plain_document["results"] == document["results"]


# --- 3. a teacher's num_classes, and a student given as a teacher ------------------------------

def test_a_teacher_whose_num_classes_differs_from_its_checkpoint_names_the_key(teacher_checkpoint):
    from d2kd.engine.build import build_model

    cfg = _load(MKD_CONFIG, TEACHER_OVERRIDES + STUDENT_OVERRIDES + [
        "model.teachers.model.roi_heads.num_classes=5", f"model.teachers.weights={teacher_checkpoint}"])
    with pytest.raises(ConfigError) as error:
        build_model(cfg.model)
    message = str(error.value)
    assert message.startswith(f"Weights '{teacher_checkpoint}' do not match the model config: ")
    assert "roi_heads.box_predictor.cls_score.weight: file (3, " in message  # the shapes, as before
    assert message.endswith("The file was trained with 2 classes: set model.teachers.model.roi_heads.num_classes=2.")
    assert "allow_partial_weights" not in message  # a random head is not the fix


def test_a_retinanet_teachers_class_count_is_read_through_its_anchors(tmp_path):
    from conftest import build_tiny_retinanet
    from d2kd.modeling import Teacher, WeightsError

    path = tmp_path / "retinanet.pth"
    torch.save({"model": build_tiny_retinanet(num_classes=2).state_dict()}, path)
    with pytest.raises(WeightsError) as error:
        Teacher(model=build_tiny_retinanet(num_classes=4), weights=str(path))
    assert error.value.file_num_classes == 2
    assert str(error.value).endswith("The file was trained with 2 classes (read from its classifier's shape): "
                                     "set the model config's num_classes=2.")


def test_a_distillation_runs_checkpoint_given_as_a_teacher_says_so(student_checkpoints):
    from d2kd.engine.build import build_model

    _, distilled = student_checkpoints
    cfg = _load(MKD_CONFIG, TEACHER_OVERRIDES + STUDENT_OVERRIDES + [
        "model.teachers.model.roi_heads.num_classes=2", f"model.teachers.weights={distilled}"])
    with pytest.raises(ConfigError) as error:
        build_model(cfg.model)
    message = str(error.value)
    assert f"model.teachers.weights='{distilled}' is a distillation run's checkpoint (its keys start with " \
           "'student.')" in message
    assert f"export it (python tools/export_student.py --checkpoint {distilled} --output student.pth)" in message


# --- 4. a model that cannot be built, in a plain run --------------------------------------------

def test_a_negative_loss_weight_in_a_plain_run_is_a_config_error_before_anything_is_written(
        dataset, teacher_checkpoint, tmp_path):
    out = tmp_path / "run"
    proc = run_tool("lazyconfig_train_net.py", "--config-file", MKD_CONFIG, *own_data(dataset),
                    *STUDENT_OVERRIDES, *TEACHER_OVERRIDES, "model.teachers.model.roi_heads.num_classes=2",
                    f"model.teachers.weights={teacher_checkpoint}", "model.distill_losses.0.weight=-1.0",
                    "train.max_iter=1", f"train.output_dir={out}", check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Config error: model cannot be built: ValueError: "), last
    assert "MKDLoss: weight (eq. 6's alpha, the KD loss weight) must be >= 0, got -1.0" in last
    assert "Traceback" not in proc.stderr
    assert not out.exists() or not list(out.iterdir())  # no config.yaml, no log.txt

    wrong_classes = run_tool("lazyconfig_train_net.py", "--config-file", MKD_CONFIG, *own_data(dataset),
                             *STUDENT_OVERRIDES, *TEACHER_OVERRIDES, "model.teachers.model.roi_heads.num_classes=3",
                             f"model.teachers.weights={teacher_checkpoint}", "train.max_iter=1",
                             f"train.output_dir={out}", check=False)
    assert wrong_classes.returncode == 1
    last = wrong_classes.stderr.strip().splitlines()[-1]
    assert last.endswith("set model.teachers.model.roi_heads.num_classes=2."), last
    assert not out.exists() or not list(out.iterdir())


# --- 5. a box of negative width or height: what detectron2's own mapper does with it ----------

def test_a_box_of_negative_size_is_trained_on_flipped_as_the_warning_says(tmp_path):
    """box_problems' words against detectron2's DatasetMapper (transform_instance_annotations,
    annotations_to_instances, filter_empty_instances), as the training config builds it."""
    import copy

    from detectron2.config import instantiate
    from detectron2.data.datasets import load_coco_json

    from d2kd.data.checks import box_problems

    root = tmp_path / "odd"
    root.mkdir()
    write_coco_split(root, "train", 1, seed=0, extra_annotations=[
        {"image_id": 1, "category_id": 3, "bbox": [60, 30, -20, 25], "area": 500},  # negative width
        {"image_id": 1, "category_id": 7, "bbox": [40, 50, 15, -30], "area": 450},  # negative height
        {"image_id": 1, "category_id": 3, "bbox": [10, 10, -8, 0], "area": 0},  # negative width, zero height
        {"image_id": 1, "category_id": 7, "bbox": [-5, 10, -20, 12], "area": 240},  # flipped: outside
    ])
    records = load_coco_json(str(root / "train.json"), str(root / "images"), "nc_negative_boxes")
    assert len(records) == 1 and len(records[0]["annotations"]) == 6  # detectron2's loader keeps them all
    file_name = records[0]["file_name"]
    assert box_problems(records) == [
        f"1 of 6 boxes have zero width or height (detectron2 drops them in training), e.g. {file_name} "
        "box [10.0, 10.0, -8.0, 0.0]",
        "2 of 6 boxes have negative width or height (detectron2 does not drop them: its mapper turns each into "
        "the box spanning x+w..x, y+h..y, and trains on it; fix the json if that box is not the object), "
        f"e.g. {file_name} box [60.0, 30.0, -20.0, 25.0]",
        f"1 of 6 boxes lie entirely outside their image (clipped to nothing and dropped), e.g. {file_name} "
        "box [-5.0, 10.0, -20.0, 12.0]",
    ]

    # detectron2's own mapper of the training config, at the images' own size (no rescaling)
    cfg = _load(STUDENT_CONFIG, ["dataloader.train.mapper.augmentations.0.short_edge_length=[112]"])
    mapper = instantiate(cfg.dataloader.train.mapper)
    clean = [a["bbox"] for a in records[0]["annotations"][:2]]
    expected = [[x, y, x + w, y + h] for x, y, w, h in clean] + [[40, 30, 60, 55], [40, 20, 55, 50]]
    mirrored = [[SIZE - x1, y0, SIZE - x0, y1] for x0, y0, x1, y1 in expected]  # RandomFlip
    seen = set()
    for seed in range(6):
        np.random.seed(seed)  # detectron2's augmentations draw from numpy
        instances = mapper(copy.deepcopy(records[0]))["instances"]
        boxes = instances.gt_boxes.tensor.tolist()
        assert boxes in (expected, mirrored), boxes  # the flipped boxes kept, the others dropped
        assert instances.gt_classes.tolist() == [0, 1, 0, 1]  # ids 3 and 7: contiguous 0 and 1
        seen.add(boxes == expected)
    assert True in seen  # at least one draw was not mirrored


# --- 6. every kind of run recognises every kind of run folder ---------------------------------

DFMSD_CONFIG = "projects/DFMSD/configs/Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py"


def _run_folder(folder, top, stages=()):
    """A run folder as a run leaves it: ``top`` files, and ``stages`` sub-folders of a plain
    run's files each; returns {path: bytes} of everything in it."""
    for stage in stages:
        (folder / stage).mkdir(parents=True)
        for name in ("config.yaml", "last_checkpoint", "model_final.pth", "metrics.json"):
            (folder / stage / name).write_text(f"{stage}/{name}")
    folder.mkdir(exist_ok=True)
    for name in top:
        (folder / name).write_text(f"{folder.name} {name}")
    return _snapshot(folder)


def _snapshot(folder):
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_a_run_folder_of_another_kind_is_refused_before_anything_is_written(tmp_path, resume):
    from detectron2.engine import default_argument_parser
    from tool_runs import load_tool

    tool = load_tool("lazyconfig_train_net")
    staged, plain, evaluation = tmp_path / "staged", tmp_path / "plain", tmp_path / "evaluation"
    before = {
        staged: _run_folder(staged, ["config.yaml", "log.txt", "stages_summary.json", "stages_summary.md",
                                     "model_final.pth"], stages=["stage1", "stage2"]),
        plain: _run_folder(plain, ["config.yaml", "log.txt", "metrics.json", "last_checkpoint", "model_final.pth"]),
        evaluation: _run_folder(evaluation, ["config.yaml", "log.txt", "results.json"]),
    }
    flags = ["--resume"] if resume else []
    resumed = " --resume continues a run of the same kind only." if resume else ""

    def refusal(config, output_dir):
        args = default_argument_parser().parse_args([*flags, "--config-file", config,
                                                     f"train.output_dir={output_dir}"])
        with pytest.raises(ConfigError) as error:
            tool.main(args)
        return str(error.value)

    # a plain run into a staged (SAL) run's folder: its config.yaml and final student
    assert refusal(STUDENT_CONFIG, staged) == (
        f"'{staged}' already holds a staged (SAL) training run (stages_summary.json, stage1/, stage2/): "
        f"a plain (one-stage) training run there would replace its config.yaml, model_final.pth.{resumed} "
        f"Pass train.output_dir=<another folder>, or delete '{staged}' to start over.")
    # a staged run into a plain run's folder: its config.yaml and only final checkpoint
    assert refusal(DFMSD_CONFIG, plain) == (
        f"'{plain}' already holds a plain (one-stage) training run (last_checkpoint, model_final.pth): "
        f"a staged (SAL) training run there would replace its config.yaml, model_final.pth.{resumed} "
        f"Pass train.output_dir=<another folder>, or delete '{plain}' to start over.")
    # a training run into an --eval-only evaluation's folder
    for config in (STUDENT_CONFIG, DFMSD_CONFIG):
        assert refusal(config, evaluation).startswith(
            f"'{evaluation}' already holds an --eval-only evaluation (results.json): ")
    for folder, files in before.items():
        assert _snapshot(folder) == files  # nothing written, nothing replaced

    # --eval-only keeps out of every kind of run folder: it writes into an eval/ sub-folder
    for folder in before:
        assert tool.eval_output_dir(str(folder)) == str(folder / "eval")


def test_run_folder_kinds_and_runs_of_the_same_kind():
    from d2kd.config import check_run_folder, run_folder_kind

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        assert run_folder_kind(str(root / "missing")) == (None, [])
        _run_folder(root / "empty", [])
        assert run_folder_kind(str(root / "empty")) == (None, [])
        # a staged run stopped in its first stage: no summary yet, a stage folder with a run's files
        _run_folder(root / "stopped", ["config.yaml", "log.txt"], stages=["stage1"])
        assert run_folder_kind(str(root / "stopped")) == ("staged", ["stage1/"])
        _run_folder(root / "plain", ["config.yaml", "log.txt", "last_checkpoint", "model_0000001.pth"])
        assert run_folder_kind(str(root / "plain")) == ("plain", ["last_checkpoint"])
        # the same kind: --resume continues it; a fresh plain run is refused as before
        check_run_folder(str(root / "stopped"), "staged", resume=True)
        check_run_folder(str(root / "stopped"), "staged")  # each stage folder is checked as a plain run
        check_run_folder(str(root / "plain"), "plain", resume=True)
        with pytest.raises(ConfigError, match="already holds checkpoints of a run .*Pass --resume to continue it"):
            check_run_folder(str(root / "plain"), "plain")
        with pytest.raises(ConfigError, match="already holds a staged \\(SAL\\) training run \\(stage1/\\)"):
            check_run_folder(str(root / "stopped"), "plain", resume=True)


# --- 7. the checks' warnings reach the run's log.txt -------------------------------------------

def test_the_checks_warnings_reach_a_staged_runs_log_txt(tmp_path, monkeypatch):
    """The warnings of every stage's checks, logged before log.txt exists, are in it after the
    run (a plain run's: tests/test_own_coco_dataset.py, the odd boxes)."""
    import logging

    from detectron2.engine import default_argument_parser
    from tool_runs import load_tool

    from d2kd.engine import checks

    out = tmp_path / "run"
    args = default_argument_parser().parse_args(["--config-file", DFMSD_CONFIG, f"train.output_dir={out}"])

    def check(args, stage_cfg, name_key):
        assert not (out / "log.txt").exists()
        where = stage_cfg.train.output_dir
        logging.getLogger("detectron2").warning("Dataset 'own_train': 1 of 8 boxes odd in %s", where)
        logging.getLogger("d2kd.config.checks").warning("a teacher's num_classes in %s", where)

    trained = []
    tool = load_tool("lazyconfig_train_net")
    monkeypatch.setattr(checks, "check_config", check)
    monkeypatch.setattr(checks, "_check_stage_builds", lambda stages: None)  # no teacher weights here
    monkeypatch.setattr(tool, "do_train", lambda args, scfg, extra_hooks: trained.append(scfg.train.output_dir))
    tool.main(args)
    assert trained == [str(out / "stage1"), str(out / "stage2")]
    log = (out / "log.txt").read_text()
    for stage in ("stage1", "stage2"):
        assert log.count(f"WARNING: Dataset 'own_train': 1 of 8 boxes odd in {out / stage}\n") == 1, log
        assert log.count(f"WARNING: a teacher's num_classes in {out / stage}\n") == 1, log
