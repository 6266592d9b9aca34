"""What a newcomer trips on (issue 29, part 2), caught before training with the fix named:
a test json whose categories differ from the training json's, --eval-only of a distillation
config without its teachers' checkpoints (and its results.json), a teacher whose num_classes
differs from its checkpoint, a distillation run's checkpoint given as a teacher's weights,
and a model that cannot be built (a negative loss weight) in a plain run.

The own COCO dataset of tests/test_own_coco_dataset.py: two classes (ids 3 and 7), 112 px."""
import json

import pytest
import torch
from omegaconf import OmegaConf
from test_own_coco_dataset import CATEGORIES, MKD_CONFIG, STUDENT_CONFIG, TEACHER_SIZE, own_data, write_coco_split
from tool_runs import run_tool, shrink_model

from d2kd.config import ConfigError

TEACHER_OVERRIDES = [f"model.teachers.model.{o}" for o in TEACHER_SIZE]
STUDENT_OVERRIDES = shrink_model("model.student") + ["model.student.roi_heads.num_classes=2",
                                                     "model.min_input_size=112"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("newcomer_coco")
    write_coco_split(root, "train", 4, seed=0)
    write_coco_split(root, "val", 2, seed=1)
    return root


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
                    f"model.teachers.weights={teacher_checkpoint}", "model.distill_losses.0.alpha=-1.0",
                    "train.max_iter=1", f"train.output_dir={out}", check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Config error: model cannot be built: ValueError: "), last
    assert "alpha (KD loss weight) must be >= 0, got -1.0" in last
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
