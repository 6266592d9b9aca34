"""Tests of the bundled synthetic shapes dataset (d2kd/data)."""
import json
import os
import runpy
import shutil
import time

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator
from detectron2.structures import BoxMode, Boxes, Instances
from detectron2.structures.masks import polygons_to_bitmask
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

import d2kd.data
from d2kd.data import (
    SCALES,
    SHAPES_CLASSES,
    dataset_root,
    ensure_generated,
    generate_image,
    register_shapes_datasets,
    shapes_dataset_name,
    summarize_annotations,
    verify_images,
)
from d2kd.data import shapes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = SCALES["tiny"]


def _rasterize(polygons, height, width):
    """(H, W) bool mask of COCO polygons, as pycocotools (and detectron2) draw them."""
    rles = mask_util.frPyObjects(polygons, height, width)
    return mask_util.decode(mask_util.merge(rles)).astype(bool)


def _read_bytes(directory):
    """{relative path: bytes} of every file under ``directory``."""
    files = {}
    for dirpath, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, directory)] = f.read()
    return files


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """A root holding the generated tiny scale, registered for this module."""
    root = str(tmp_path_factory.mktemp("shapes_root"))
    register_shapes_datasets(root)
    for split in shapes.SPLITS:
        ensure_generated(shapes_dataset_name("tiny", split))
    yield root
    register_shapes_datasets()


@pytest.fixture(scope="module")
def bench_sample():
    """Images 0..59 of bench val, generated in memory: [(image, instances)]."""
    return [generate_image(SCALES["bench"], "val", i) for i in range(60)]


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _load_json(root, split="train"):
    return _read_json(os.path.join(root, "tiny", split, "annotations.json"))


# ------------------------------------------------------------------ generator


def test_generation_is_byte_identical(tmp_path):
    first = shapes.write_split(str(tmp_path / "a"), TINY, "train")
    second = shapes.write_split(str(tmp_path / "b"), TINY, "train")
    files_a, files_b = _read_bytes(tmp_path / "a"), _read_bytes(tmp_path / "b")
    assert len(files_a) == TINY.num_train + 1
    assert files_a == files_b
    assert os.path.basename(first) == os.path.basename(second) == "annotations.json"


def test_worker_processes_do_not_change_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(shapes, "_POOL_MIN_IMAGES", 0)
    shapes.write_split(str(tmp_path / "serial"), TINY, "val", workers=1)
    shapes.write_split(str(tmp_path / "pool"), TINY, "val", workers=2)
    assert _read_bytes(tmp_path / "serial") == _read_bytes(tmp_path / "pool")


def test_images_depend_only_on_seed_split_and_index():
    image, instances = generate_image(TINY, "train", 3)
    again, _ = generate_image(TINY, "train", 3)
    other_split, _ = generate_image(TINY, "val", 3)
    other_seed, _ = generate_image(shapes.dataclasses.replace(TINY, seed=1), "train", 3)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert TINY.min_side <= min(image.shape[:2]) and max(image.shape[:2]) <= TINY.max_side
    assert np.array_equal(image, again)
    assert not np.array_equal(image[:64, :64], other_split[:64, :64])
    assert not np.array_equal(image[:64, :64], other_seed[:64, :64])
    assert instances


def test_instances_have_consistent_masks_boxes_and_polygons(bench_sample):
    for image, instances in bench_sample:
        height, width = image.shape[:2]
        for inst in instances:
            assert inst.mask.shape == (height, width)
            assert inst.area == int(inst.mask.sum()) > 0
            ys, xs = np.nonzero(inst.mask)
            x, y, w, h = inst.bbox
            assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
            drawn = _rasterize(inst.polygons, height, width)
            iou = (drawn & inst.mask).sum() / (drawn | inst.mask).sum()
            assert iou > 0.9, (inst.area, iou)


def test_visible_masks_do_not_overlap_and_occlusions_happen(bench_sample):
    touching = total = 0
    for _, instances in bench_sample:
        stack = np.stack([inst.mask for inst in instances]).astype(np.uint8)
        assert stack.sum(axis=0).max() <= 1
        for i, inst in enumerate(instances):
            grown = cv2.dilate(inst.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            others = np.delete(stack, i, axis=0).any(axis=0)
            touching += bool((grown & others).any())
            total += 1
    assert touching / total > 0.15


def test_small_object_share_is_close_to_requested(bench_sample):
    areas = [inst.area for _, instances in bench_sample for inst in instances]
    counts = {k: 0 for k in ("small", "medium", "large")}
    for area in areas:
        counts[shapes.size_category(area)] += 1
    assert len(areas) > 250
    requested_small = SCALES["bench"].size_shares[0]
    assert abs(counts["small"] / len(areas) - requested_small) < 0.07, counts
    assert counts["medium"] / len(areas) > 0.25, counts
    assert counts["large"] / len(areas) > 0.08, counts


def test_mask_to_polygons_reproduces_tiny_and_cut_masks():
    mask = np.zeros((20, 30), bool)
    mask[3:6, 4:8] = True  # 12 px
    mask[10:19, 15:29] = True
    mask[10:19, 20] = False  # cut into two pieces
    polygons = shapes.mask_to_polygons(mask)
    assert len(polygons) == 3
    drawn = _rasterize(polygons, 20, 30)
    assert (drawn & mask).sum() / (drawn | mask).sum() >= 0.95
    assert all(len(p) >= 6 and len(p) % 2 == 0 for p in polygons)


# ------------------------------------------------------------------ files on disk


def test_coco_json_loads_with_pycocotools(tiny_root):
    json_path = os.path.join(tiny_root, "tiny", "train", "annotations.json")
    coco = COCO(json_path)
    assert len(coco.getImgIds()) == TINY.num_train
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(SHAPES_CLASSES)
    for image_info in coco.loadImgs(coco.getImgIds()):
        image_dir = os.path.join(tiny_root, "tiny", "train", "images")
        image = cv2.imread(os.path.join(image_dir, image_info["file_name"]))
        assert image.shape[:2] == (image_info["height"], image_info["width"])
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_info["id"])):
            assert ann["iscrowd"] == 0
            drawn = coco.annToMask(ann).astype(bool)
            assert abs(int(drawn.sum()) - ann["area"]) <= 0.1 * ann["area"]
            x, y, w, h = ann["bbox"]
            ys, xs = np.nonzero(drawn)
            assert x <= xs.min() and xs.max() < x + w + 1 and y <= ys.min() and ys.max() < y + h + 1


def test_all_classes_appear(tiny_root):
    summary = summarize_annotations(_load_json(tiny_root))
    assert summary["images"] == TINY.num_train
    assert all(count > 0 for count in summary["per_class"].values()), summary["per_class"]
    assert abs(sum(summary["shares"].values()) - 1) < 1e-9


def test_json_records_generator_parameters(tiny_root):
    info = _load_json(tiny_root, "val")["info"]["generator"]
    assert info == shapes.generator_info(TINY, "val")
    assert info["version"] == shapes.GENERATOR_VERSION
    assert info["params"]["num_val"] == TINY.num_val


def test_test_split_is_held_out_and_did_not_invalidate_train_and_val(tiny_root):
    test = _load_json(tiny_root, "test")
    val = _load_json(tiny_root, "val")
    assert len(test["images"]) == TINY.num_test == 12
    assert test["info"]["generator"]["params"]["num_test"] == TINY.num_test
    # train and val were generated before the test split existed: their info (what decides
    # whether a split is current) leaves its count out, so adding it kept them current
    for split in ("train", "val"):
        assert "num_test" not in shapes.generator_info(TINY, split)["params"]
    assert "num_test" not in val["info"]["generator"]["params"]
    # drawn from its own stream: no test image equals the val image of the same index
    for index in range(TINY.num_test):
        held_out, _ = generate_image(TINY, "test", index)
        chosen_on, _ = generate_image(TINY, "val", index)
        assert held_out.shape != chosen_on.shape or not np.array_equal(held_out, chosen_on)
    assert SCALES["bench"].num_images("test") == 500
    with pytest.raises(ValueError, match="Unknown split 'holdout'"):
        TINY.num_images("holdout")


# ------------------------------------------------------------------ registration


def test_names_are_registered_with_metadata():
    for scale in SCALES:
        for split in ("train", "val", "test"):
            name = f"d2kd_shapes_{scale}_{split}"
            assert name in DatasetCatalog.list()
            meta = MetadataCatalog.get(name)
            assert meta.thing_classes == list(SHAPES_CLASSES)
            assert meta.evaluator_type == "coco"
            assert meta.json_file.endswith(os.path.join(scale, split, "annotations.json"))
            assert meta.image_root.endswith(os.path.join(scale, split, "images"))


def test_dataset_catalog_returns_detectron2_dicts(tiny_root):
    dicts = DatasetCatalog.get("d2kd_shapes_tiny_train")
    meta = MetadataCatalog.get("d2kd_shapes_tiny_train")
    assert len(dicts) == TINY.num_train
    assert os.path.isfile(meta.json_file) and meta.json_file.startswith(tiny_root)
    assert meta.thing_dataset_id_to_contiguous_id == {i + 1: i for i in range(len(SHAPES_CLASSES))}
    annotations = [a for d in dicts for a in d["annotations"]]
    assert annotations
    assert {a["category_id"] for a in annotations} <= set(range(len(SHAPES_CLASSES)))
    for record in dicts:
        assert os.path.isfile(record["file_name"])
        assert {"height", "width", "image_id"} <= set(record)
    for a in annotations:
        assert a["bbox_mode"] == BoxMode.XYWH_ABS
        assert len(a["bbox"]) == 4 and a["iscrowd"] == 0
        assert a["segmentation"] and all(len(p) >= 6 and len(p) % 2 == 0 for p in a["segmentation"])


def _ground_truth_prediction(record):
    """The annotations of a detectron2 dataset dict as a perfect ``Instances`` prediction."""
    annotations = record["annotations"]
    height, width = record["height"], record["width"]
    boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations]
    masks = [polygons_to_bitmask(a["segmentation"], height, width) for a in annotations]
    instances = Instances((height, width))
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    instances.scores = torch.ones(len(annotations))
    instances.pred_classes = torch.tensor([a["category_id"] for a in annotations])
    instances.pred_masks = torch.from_numpy(np.stack(masks))
    return {"instances": instances}


def test_coco_evaluator_scores_ground_truth_as_perfect(tiny_root):
    name = "d2kd_shapes_tiny_val"
    evaluator = COCOEvaluator(name, tasks=("bbox", "segm"), output_dir=None, use_fast_impl=False)
    evaluator.reset()
    for record in DatasetCatalog.get(name):
        evaluator.process([{"image_id": record["image_id"]}], [_ground_truth_prediction(record)])
    results = evaluator.evaluate()
    assert results["bbox"]["AP"] == pytest.approx(100.0)
    assert results["segm"]["AP"] == pytest.approx(100.0)
    assert results["bbox"]["APs"] == pytest.approx(100.0)


def test_ensure_generated_returns_the_metadata_json(tiny_root):
    name = "d2kd_shapes_tiny_val"
    assert ensure_generated(name) == MetadataCatalog.get(name).json_file
    with pytest.raises(KeyError, match="not a registered"):
        ensure_generated("coco_2017_train")


def test_register_is_idempotent_and_repoints(tiny_root, tmp_path):
    try:
        names = register_shapes_datasets(str(tmp_path))
        assert register_shapes_datasets(str(tmp_path)) == names
        assert MetadataCatalog.get(names[0]).json_file.startswith(str(tmp_path))
    finally:
        register_shapes_datasets(tiny_root)
    assert MetadataCatalog.get(names[0]).json_file.startswith(tiny_root)


def test_dataset_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("D2KD_DATASETS", str(tmp_path / "mine"))
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "d2"))
    assert dataset_root() == str(tmp_path / "mine")
    monkeypatch.delenv("D2KD_DATASETS")
    assert dataset_root() == str(tmp_path / "d2" / "d2kd_shapes")
    monkeypatch.delenv("DETECTRON2_DATASETS")
    monkeypatch.chdir(tmp_path)
    assert dataset_root() == str(tmp_path / "datasets" / "d2kd_shapes")


# ------------------------------------------------------------------ robustness


def test_interrupted_generation_is_regenerated(tiny_root, monkeypatch, tmp_path):
    monkeypatch.setenv("D2KD_DATASETS", str(tmp_path))
    register_shapes_datasets()
    try:
        leftover = tmp_path / "tiny" / ".train.tmp-99999"
        (leftover / "images").mkdir(parents=True)
        (leftover / "images" / "000000.jpg").write_bytes(b"\xff\xd8 half written")
        assert not (tmp_path / "tiny" / "train").exists()

        dicts = DatasetCatalog.get("d2kd_shapes_tiny_train")

        assert len(dicts) == TINY.num_train
        assert not leftover.exists()
        assert MetadataCatalog.get("d2kd_shapes_tiny_train").json_file.startswith(str(tmp_path))
        verify_images(dicts)
    finally:
        register_shapes_datasets(tiny_root)


def test_stale_split_is_regenerated(tmp_path):
    json_path = shapes.ensure_split(str(tmp_path), "tiny", "val")
    coco = _read_json(json_path)
    coco["info"]["generator"]["version"] = -1
    coco["images"] = coco["images"][:2]
    with open(json_path, "w") as f:
        json.dump(coco, f)

    assert shapes.ensure_split(str(tmp_path), "tiny", "val") == json_path

    assert len(_read_json(json_path)["images"]) == TINY.num_val
    assert sorted(os.listdir(tmp_path / "tiny")) == [".val.lock", "val"]


def test_verify_images_names_corrupt_and_missing_files(tiny_root, tmp_path):
    dicts = DatasetCatalog.get("d2kd_shapes_tiny_val")
    verify_images(dicts)

    copy_root = tmp_path / "copy"
    shutil.copytree(os.path.join(tiny_root, "tiny", "val"), copy_root / "tiny" / "val")
    image_dir = copy_root / "tiny" / "val" / "images"
    truncated = image_dir / "000003.jpg"
    truncated.write_bytes(truncated.read_bytes()[:300])
    (image_dir / "000005.jpg").write_bytes(os.urandom(500))
    (image_dir / "000007.jpg").unlink()
    copied = [dict(d, file_name=str(image_dir / os.path.basename(d["file_name"]))) for d in dicts]

    with pytest.raises(ValueError) as error:
        verify_images(copied)

    message = str(error.value)
    assert "3 of 12" in message
    for name in ("000003.jpg", "000005.jpg", "000007.jpg"):
        assert str(image_dir / name) in message
    assert f"tools/make_dataset.py --scale tiny --root {copy_root} --force" in message


def test_verify_images_is_fast(tiny_root):
    dicts = DatasetCatalog.get("d2kd_shapes_tiny_train") * 40  # ~1000 images
    start = time.perf_counter()
    verify_images(dicts)
    assert time.perf_counter() - start < 5.0


def test_make_dataset_tool_prints_summary(tmp_path, capsys):
    tool = runpy.run_path(os.path.join(REPO_ROOT, "tools", "make_dataset.py"))
    argv = ["--scale", "tiny", "--root", str(tmp_path), "--splits", "val"]
    tool["main"](tool["get_parser"]().parse_args(argv))
    out = capsys.readouterr().out
    assert str(tmp_path / "tiny" / "val" / "annotations.json") in out
    assert f"{TINY.num_val} images" in out and "small" in out and "large" in out
    assert d2kd.data.SHAPES_CLASSES[0] in out


def test_verify_modes_headers_auto_and_off(tiny_root, tmp_path, monkeypatch):
    """headers: a truncated JPEG, an unreadable header, a wrong size and a missing file
    are found without decoding; auto decodes small sets; off checks nothing; another
    value of $D2KD_VERIFY_IMAGES is an error naming the choices."""
    from d2kd.data.checks import FULL_DECODE_LIMIT, verify_mode

    dicts = DatasetCatalog.get("d2kd_shapes_tiny_val")
    assert verify_images(dicts, mode="headers") == "headers"
    assert verify_images(dicts) == "full" and len(dicts) <= FULL_DECODE_LIMIT
    image_dir = tmp_path / "images"
    shutil.copytree(os.path.dirname(dicts[0]["file_name"]), image_dir)
    copied = [dict(d, file_name=str(image_dir / os.path.basename(d["file_name"]))) for d in dicts]
    truncated = image_dir / "000003.jpg"
    truncated.write_bytes(truncated.read_bytes()[:300])
    (image_dir / "000005.jpg").write_bytes(os.urandom(500))
    (image_dir / "000007.jpg").unlink()
    copied[8] = dict(copied[8], width=copied[8]["width"] + 1)
    with pytest.raises(ValueError) as error:
        verify_images(copied, mode="headers")
    message = str(error.value)
    assert "4 of 12" in message and "D2KD_VERIFY_IMAGES=off skips this check" in message
    assert f"{truncated} is a truncated JPEG" in message
    assert f"{image_dir / '000005.jpg'} has no readable image header" in message
    assert "but the annotations say" in message
    monkeypatch.setenv("D2KD_VERIFY_IMAGES", "off")
    assert verify_images(copied) == "off"
    monkeypatch.setenv("D2KD_VERIFY_IMAGES", "quick")
    with pytest.raises(ValueError, match="D2KD_VERIFY_IMAGES='quick': choose one of auto, full, headers, off"):
        verify_mode()
