"""A user's own COCO-format dataset, declared by overrides alone (the README's path):
teacher training, MKD distillation, export and --eval-only through the real tools.

The dataset is the ``own_coco`` fixture (tests/own_coco.py), not the shapes generator's:
two classes with non-contiguous COCO ids (3 and 7), 112 px images.
"""
import json

import pytest
from own_coco import NUM_VAL, own_data, write_coco_split
from tool_runs import read_metrics, run_tool, shrink_model

TEACHER_CONFIG = "configs/Shapes/faster_rcnn_R18w64_FPN.py"
MKD_CONFIG = "projects/MKD/configs/Shapes/mkd_R18w64_to_R18_faster_rcnn.py"
STUDENT_CONFIG = "configs/Shapes/faster_rcnn_R18_FPN.py"
SCHEDULE = ["train.max_iter=2", "train.log_period=1", "train.checkpointer.period=2"]
TEACHER_SIZE = ["backbone.bottom_up.stages.base_width=8", "backbone.out_channels=24"]


@pytest.fixture(scope="module")
def dataset(own_coco):
    return own_coco


@pytest.fixture(scope="module")
def teacher(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("own_teacher")
    run_tool("lazyconfig_train_net.py", "--config-file", TEACHER_CONFIG, *own_data(dataset), *SCHEDULE,
             *[f"model.{o}" for o in TEACHER_SIZE], "model.roi_heads.num_classes=2", "train.eval_period=0",
             f"train.output_dir={out}")
    return out / "model_final.pth"


def test_teacher_mkd_export_and_eval_on_an_own_coco_dataset(dataset, teacher, tmp_path):
    run = tmp_path / "mkd"
    run_tool("lazyconfig_train_net.py", "--config-file", MKD_CONFIG, *own_data(dataset), *SCHEDULE,
             *shrink_model("model.student"), *[f"model.teachers.model.{o}" for o in TEACHER_SIZE],
             "model.student.roi_heads.num_classes=2", "model.teachers.model.roi_heads.num_classes=2",
             f"model.teachers.weights={teacher}", "model.min_input_size=112",
             "+model.student.roi_heads.box_predictor.test_score_thresh=0.0",
             "train.eval_period=2", f"train.output_dir={run}")
    records = read_metrics(run)
    train = [r for r in records if "total_loss" in r]
    assert [r["iteration"] for r in train] == [0, 1]
    for term in ("multiscale", "fdmd", "fea"):
        assert all(r[f"loss_mkd_{term}_p2"] > 0 for r in train)
    evaluated = [r for r in records if "bbox/AP" in r][-1]
    # COCOEvaluator read the user's categories: one AP per class, by name
    assert {"bbox/AP-square", "bbox/AP-disk"} <= set(evaluated)

    exported = tmp_path / "student.pth"
    run_tool("export_student.py", "--checkpoint", run / "model_final.pth", "--output", exported)
    run_tool("lazyconfig_train_net.py", "--eval-only", "--config-file", STUDENT_CONFIG, *own_data(dataset),
             *shrink_model(), "model.roi_heads.num_classes=2",
             "+model.roi_heads.box_predictor.test_score_thresh=0.0",
             f"train.init_checkpoint={exported}", f"train.output_dir={tmp_path / 'eval'}")
    log = (tmp_path / "eval" / "log.txt").read_text()
    row = log.split("copypaste: AP,AP50,AP75,APs,APm,APl")[-1].splitlines()[1].split("copypaste: ")[1]
    assert float(row.split(",")[0]) == pytest.approx(evaluated["bbox/AP"], abs=1e-3)


def test_a_forgotten_num_classes_on_an_own_dataset_names_the_key(dataset, tmp_path):
    proc = run_tool("lazyconfig_train_net.py", "--config-file", STUDENT_CONFIG, *own_data(dataset), *SCHEDULE,
                    *shrink_model(), f"train.output_dir={tmp_path / 'run'}", check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "model.roi_heads.num_classes=6, but the training set 'own_train' has 2 categories (square, disk)" in last
    assert last.endswith("Set model.roi_heads.num_classes=2.")
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").rglob("*.pth"))


def test_own_dataset_mistakes_are_clear_errors_before_training(dataset, tmp_path):
    missing = run_tool("lazyconfig_train_net.py", "--config-file", STUDENT_CONFIG,
                       f"+datasets.own_train=[{dataset / 'nope.json'},{dataset / 'images'}]",
                       "dataloader.train.dataset.names=own_train", check=False)
    assert missing.returncode == 1
    assert "datasets.own_train: the COCO json" in missing.stderr and "nope.json' does not exist" in missing.stderr
    taken = run_tool("lazyconfig_train_net.py", "--config-file", STUDENT_CONFIG,
                     f"+datasets.d2kd_shapes_tiny_train=[{dataset / 'train.json'},{dataset / 'images'}]",
                     check=False)
    assert taken.returncode == 1 and "is already registered" in taken.stderr.strip().splitlines()[-1]
    malformed = run_tool("lazyconfig_train_net.py", "--config-file", STUDENT_CONFIG,
                         f"+datasets.own_train={dataset / 'train.json'}", check=False)
    assert malformed.returncode == 1 and "is not a dataset declaration" in malformed.stderr


def test_unknown_category_and_odd_boxes_are_caught_before_training(tmp_path):
    root = tmp_path / "odd"
    root.mkdir()
    write_coco_split(root, "train", 2, seed=0, extra_annotations=[
        {"image_id": 1, "category_id": 3, "bbox": [10, 10, 0, 12], "area": 0},  # zero width
        {"image_id": 1, "category_id": 7, "bbox": [100, 100, 30, 30], "area": 900},  # reaches outside
        {"image_id": 2, "category_id": 3, "bbox": [200, 5, 10, 10], "area": 100},  # outside the image
        {"image_id": 2, "category_id": 7, "bbox": [60, 30, -20, 25], "area": 500},  # negative width: kept
    ])
    write_coco_split(root, "val", 1, seed=1)
    args = ["--config-file", STUDENT_CONFIG, *own_data(root), *shrink_model(), "model.roi_heads.num_classes=2",
            "train.max_iter=1", "train.eval_period=0", f"train.output_dir={tmp_path / 'run'}"]
    proc = run_tool("lazyconfig_train_net.py", *args)
    warnings = [
        "1 of 8 boxes have zero width or height (detectron2 drops them in training)",
        "1 of 8 boxes have negative width or height (detectron2 does not drop them: its mapper turns each into "
        "the box spanning x+w..x, y+h..y, and trains on it",
        "1 of 8 boxes lie entirely outside their image",
        "1 of 8 boxes reach outside their image (clipped to it)",
    ]
    # shown before training, and kept in the run's log.txt, which is written after the checks
    log = (tmp_path / "run" / "log.txt").read_text()
    for warning in warnings:
        assert warning in proc.stderr and warning in log, warning
    assert log.count("1 of 8 boxes have zero width") == 1
    assert "[10.0, 10.0, 0.0, 12.0]" in log  # the example box

    data = json.loads((root / "train.json").read_text())
    data["annotations"][0]["category_id"] = 5
    (root / "train.json").write_text(json.dumps(data))
    bad = run_tool("lazyconfig_train_net.py", *args[:-1], f"train.output_dir={tmp_path / 'bad'}", check=False)
    assert bad.returncode == 1
    last = bad.stderr.strip().splitlines()[-1]
    assert "Dataset 'own_train'" in last and "category_id=5" in last and "\"categories\"" in last
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())  # nothing written


def test_a_config_files_dict_declaration_registers_with_detectron2(dataset):
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from omegaconf import OmegaConf

    from d2kd.config import register_config_datasets

    json_file, image_root = str(dataset / "val.json"), str(dataset / "images")
    cfg = OmegaConf.create({"datasets": {"own_dict_val": {"json_file": json_file, "image_root": image_root}}})
    assert register_config_datasets(cfg) == ["own_dict_val"]
    assert register_config_datasets(cfg) == ["own_dict_val"]  # the same files again: a no-op
    records = DatasetCatalog.get("own_dict_val")
    assert len(records) == NUM_VAL and sum(len(r["annotations"]) for r in records) == 2 * NUM_VAL
    # COCO ids 3 and 7 map to detectron2's contiguous 0 and 1
    assert {a["category_id"] for r in records for a in r["annotations"]} == {0, 1}
    assert MetadataCatalog.get("own_dict_val").thing_classes == ["square", "disk"]


def _broken_json(dataset, folder):
    """The training json, indented, with the comma after the first annotation's "image_id"
    lost (a hand edit); returns (path, line, column) of the first error."""
    text = json.dumps(json.loads((dataset / "train.json").read_text()), indent=1)
    where = text.index('"image_id": 1,') + len('"image_id": 1')
    text = text[:where] + text[where + 1:]
    folder.mkdir()
    path = folder / "train.json"
    path.write_text(text)
    after = text.index('"', where)  # the next key, where the comma was expected
    line = text.count("\n", 0, after) + 1
    return path, line, after - text.rindex("\n", 0, after)


def test_a_malformed_json_is_a_config_error_naming_the_file_and_position(dataset, tmp_path):
    from detectron2.data import DatasetCatalog
    from omegaconf import OmegaConf

    from d2kd.config import ConfigError, register_config_datasets

    path, line, column = _broken_json(dataset, tmp_path / "broken")
    (tmp_path / "broken" / "images").mkdir()
    cfg = OmegaConf.create({"datasets": {"own_broken_dict": {"json_file": str(path),
                                                             "image_root": str(tmp_path / "broken" / "images")}}})
    register_config_datasets(cfg)  # a config's datasets = dict(...)
    with pytest.raises(ConfigError) as error:
        DatasetCatalog.get("own_broken_dict")
    message = str(error.value)
    assert message.startswith(f"datasets.own_broken_dict: the COCO json '{path}' is not valid JSON: "
                              f"Expecting ',' delimiter at line {line}, column {column}")
    assert "python -m json.tool" in message

    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    register_config_datasets(OmegaConf.create({"datasets": {"own_empty": [str(empty), str(tmp_path)]}}))
    with pytest.raises(ConfigError, match=f"the COCO json '{empty}' is empty"):
        DatasetCatalog.get("own_empty")


def test_a_malformed_json_stops_the_tool_before_training(dataset, tmp_path):
    path, line, column = _broken_json(dataset, tmp_path / "broken")
    (tmp_path / "broken" / "images").mkdir()
    (tmp_path / "broken" / "val.json").write_text((dataset / "val.json").read_text())
    out = tmp_path / "run"
    proc = run_tool("lazyconfig_train_net.py", "--config-file", STUDENT_CONFIG, *own_data(tmp_path / "broken"),
                    *shrink_model(), "model.roi_heads.num_classes=2", f"train.output_dir={out}", check=False)
    assert proc.returncode == 1
    assert (f"Config error: datasets.own_train: the COCO json '{path}' is not valid JSON: Expecting ',' "
            f"delimiter at line {line}, column {column}") in proc.stderr
    assert "Traceback" not in proc.stderr and "JSONDecodeError" not in proc.stderr
    assert not out.exists() or not list(out.iterdir())  # nothing written
