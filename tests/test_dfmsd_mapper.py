"""MaskingEnhancementMapper: the ME decision on constructed dataset dicts, boxes and masks
consistent with the crop, noise, determinism, ground-truth fallback and box-cache checks."""
import json

import cv2
import numpy as np
import pytest
import torch

import detectron2.data.transforms as T
from detectron2.data import DatasetCatalog
from detectron2.structures import BoxMode
from dfmsd import BoxCacheError, MaskingEnhancementMapper, ProportionalCrop
from dfmsd.box_cache import new_cache, write_cache

HEIGHT, WIDTH = 64, 80


def _record(tmp_path, boxes, image_id=1, name="img.png"):
    """A dataset dict with rectangle boxes (XYXY given, stored as XYWH) and matching polygons."""
    path = tmp_path / name
    if not path.exists():
        rng = np.random.default_rng(image_id)
        cv2.imwrite(str(path), rng.integers(30, 220, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    annotations = [
        {
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "bbox_mode": BoxMode.XYWH_ABS,
            "category_id": i % 3,
            "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]],
            "iscrowd": 0,
        }
        for i, (x0, y0, x1, y1) in enumerate(boxes)
    ]
    return {"file_name": str(path), "height": HEIGHT, "width": WIDTH, "image_id": image_id, "annotations": annotations}


BIG = [(0, 0, 60, 50), (66, 52, 78, 62)]  # Area = (3000 + 120) / 5120 = 0.609
SMALL = [(10, 10, 20, 20), (30, 30, 42, 40)]  # Area = (100 + 120) / 5120 = 0.043


def _mapper(**kwargs):
    kwargs.setdefault("augmentations", [])
    kwargs.setdefault("image_format", "BGR")
    kwargs.setdefault("use_instance_mask", True)
    return MaskingEnhancementMapper(is_train=True, **kwargs)


def test_crop_branch_transforms_image_boxes_and_masks_together(tmp_path):
    record = _record(tmp_path, BIG)
    out = _mapper(seed=3, crop_ratio=(0.5, 0.7))(record)
    assert out["enhancement"]["op"] == "crop"
    assert out["enhancement"]["area"] == pytest.approx(3120 / 5120)
    # the same draws as the mapper's generator (the crop decision draws nothing)
    transforms = ProportionalCrop(0.5, 0.7).get_transform(HEIGHT, WIDTH, np.random.default_rng([3, 0]))
    image = cv2.imread(record["file_name"])
    assert torch.equal(out["image"], torch.as_tensor(image.transpose(2, 0, 1)))
    expected_image = transforms.apply_image(image).astype(np.float32)
    assert out["enhanced_image"].dtype == torch.float32
    assert torch.equal(out["enhanced_image"], torch.as_tensor(expected_image.transpose(2, 0, 1)))

    expected = transforms.apply_box(np.array(BIG, dtype=np.float32))
    expected[:, 0::2] = expected[:, 0::2].clip(0, WIDTH)
    expected[:, 1::2] = expected[:, 1::2].clip(0, HEIGHT)
    keep = (expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])
    instances = out["enhanced_instances"]
    assert len(instances) == keep.sum() >= 1
    assert np.allclose(instances.gt_boxes.tensor.numpy(), expected[keep], atol=1e-3)
    boxes = instances.gt_boxes.tensor
    assert (boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= WIDTH).all()
    assert (boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= HEIGHT).all()
    # rectangle polygons moved with the image: their (clipped) extent is the box
    mask_boxes = instances.gt_masks.get_bounding_boxes()
    mask_boxes.clip((HEIGHT, WIDTH))
    assert torch.allclose(mask_boxes.tensor, boxes, atol=1e-3)
    # the crop zooms in: the big box is larger in the enhanced view
    big = instances.gt_boxes.area().max()
    assert big > out["instances"].gt_boxes.area().max()
    # the normal view is untouched
    assert torch.allclose(out["instances"].gt_boxes.tensor[0], torch.tensor([0.0, 0.0, 60.0, 50.0]))


def test_noise_branch_below_lambda(tmp_path):
    record = _record(tmp_path, SMALL)
    out = _mapper(seed=0, noise_prob=1.0, noise_sigma=12.0)(record)
    assert out["enhancement"] == {"op": "noise", "area": pytest.approx(220 / 5120)}
    diff = out["enhanced_image"] - out["image"].float()
    assert diff.abs().mean() > 5 and out["enhanced_image"].min() >= 0 and out["enhanced_image"].max() <= 255
    assert torch.equal(out["enhanced_instances"].gt_boxes.tensor, out["instances"].gt_boxes.tensor)

    out = _mapper(seed=0, noise_prob=0.0)(record)
    assert out["enhancement"]["op"] == "none"
    assert torch.equal(out["enhanced_image"], out["image"].float())


def test_lambda_boundary_on_dataset_dicts(tmp_path):
    # one box of 2560 px^2 = exactly half of the 64 x 80 image
    at = _record(tmp_path, [(0, 0, 40, 64)])
    below = _record(tmp_path, [(0, 0, 40, 63)])
    mapper = _mapper(seed=0, noise_prob=1.0)
    assert mapper(at)["enhancement"]["op"] == "crop"
    assert mapper(below)["enhancement"]["op"] == "noise"
    assert _mapper(seed=0, area_threshold=0.49, noise_prob=1.0)(below)["enhancement"]["op"] == "crop"


def test_seeded_mapper_is_deterministic(tmp_path):
    records = [_record(tmp_path, BIG), _record(tmp_path, SMALL, image_id=2, name="b.png")]
    augs = [T.ResizeShortestEdge((48, 56), sample_style="choice"), T.RandomFlip()]

    def run(seed):
        np.random.seed(0)  # the detectron2 augmentations draw from numpy's global RNG
        mapper = _mapper(seed=seed, noise_prob=0.5, augmentations=augs)
        return [mapper(r) for r in records * 3]

    a, b, c = run(7), run(7), run(8)
    for x, y in zip(a, b):
        assert torch.equal(x["enhanced_image"], y["enhanced_image"])
        assert torch.equal(x["enhanced_instances"].gt_boxes.tensor, y["enhanced_instances"].gt_boxes.tensor)
        assert x["enhanced_image"].shape == x["image"].shape
    assert any(not torch.equal(x["enhanced_image"], z["enhanced_image"]) for x, z in zip(a, c))


def _cache(tmp_path, records, boxes, datasets=("dfmsd_test_ds",), threshold=0.3, complete=True, name="cache.json"):
    document = new_cache(list(datasets), len(records), threshold, {"weights": "weak.pth"})
    for record in records:
        document["images"][str(record["image_id"])] = {
            "file_name": record["file_name"].rsplit("/", 1)[-1],
            "height": HEIGHT,
            "width": WIDTH,
            "boxes": [list(b) for b in boxes],
            "scores": [0.9, 0.4][: len(boxes)],
        }
    document["complete"] = complete
    path = tmp_path / name
    write_cache(str(path), document)
    return str(path)


@pytest.fixture
def registered(tmp_path):
    records = [_record(tmp_path, SMALL), _record(tmp_path, SMALL, image_id=2, name="b.png")]
    DatasetCatalog.register("dfmsd_test_ds", lambda: records)
    yield records
    DatasetCatalog.remove("dfmsd_test_ds")


def test_cached_teacher_boxes_drive_the_decision(tmp_path, registered):
    cache = _cache(tmp_path, registered, BIG)
    out = _mapper(seed=0, box_cache=cache, dataset_names="dfmsd_test_ds")(registered[0])
    assert out["enhancement"]["op"] == "crop"  # teacher boxes are big, the GT boxes small
    # a score threshold above the second box's 0.4 keeps only the big box: 3000 / 5120
    out = _mapper(seed=0, box_cache=cache, score_threshold=0.5)(registered[0])
    assert out["enhancement"]["area"] == pytest.approx(3000 / 5120)
    # ground truth without a cache
    assert _mapper(seed=0, noise_prob=1.0)(registered[0])["enhancement"]["op"] == "noise"


def test_box_cache_errors(tmp_path, registered, caplog):
    with pytest.raises(BoxCacheError, match="does not exist.*python -m dfmsd.cache_boxes"):
        _mapper(box_cache=str(tmp_path / "nope.json"))
    with pytest.raises(BoxCacheError, match="incomplete"):
        _mapper(box_cache=_cache(tmp_path, registered, BIG, complete=False))
    with pytest.raises(BoxCacheError, match="made for"):
        _mapper(box_cache=_cache(tmp_path, registered, BIG, datasets=["other"]), dataset_names="dfmsd_test_ds")
    with pytest.raises(BoxCacheError, match="below the threshold"):
        _mapper(box_cache=_cache(tmp_path, registered, BIG), score_threshold=0.1)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": {}}))
    with pytest.raises(BoxCacheError, match="not a teacher box cache"):
        _mapper(box_cache=str(bad))

    partial = _cache(tmp_path, registered[:1], BIG, name="partial.json")
    with pytest.raises(BoxCacheError, match="lacks 1 of the 2 images"):
        _mapper(box_cache=partial, dataset_names="dfmsd_test_ds")
    mapper = _mapper(box_cache=partial, dataset_names="dfmsd_test_ds", uncached="ground_truth", noise_prob=1.0)
    assert "1 of 2 images are not in the box cache" in caplog.text
    assert mapper(registered[1])["enhancement"]["op"] == "noise"  # its GT boxes are small
    # without dataset_names the gap shows at the image
    with pytest.raises(BoxCacheError, match="not in the box cache"):
        _mapper(box_cache=partial)(registered[1])
    # an entry under the right id but for another image (other size) does not count
    other = _cache(tmp_path, registered, BIG, name="other.json")
    document = json.load(open(other))
    document["images"]["2"]["height"] = 99
    write_cache(other, document)
    with pytest.raises(BoxCacheError, match="lacks 1"):
        _mapper(box_cache=other, dataset_names="dfmsd_test_ds")


def test_box_cache_is_checked_against_the_teacher_that_made_it(tmp_path, registered, caplog):
    from d2kd.utils.io import file_sha256

    weak, other = tmp_path / "weak.pth", tmp_path / "other.pth"
    weak.write_bytes(b"weak teacher")
    other.write_bytes(b"another teacher")
    cache = _cache(tmp_path, registered, BIG)
    document = json.load(open(cache))
    assert "sha256" not in document["teacher"]  # a cache of an older tool: nothing to compare
    _mapper(box_cache=cache, box_cache_teacher=str(weak))
    assert "records no teacher hash" in caplog.text
    document["teacher"]["sha256"] = file_sha256(str(weak))
    write_cache(cache, document)

    mapper = _mapper(box_cache=cache, box_cache_teacher=str(weak))  # the same bytes: accepted
    assert mapper.box_cache.check_teacher([str(other), str(weak)]) is True
    with pytest.raises(BoxCacheError, match=r"made by the teacher checkpoint weak.pth .*not by .*other.pth"):
        _mapper(box_cache=cache, box_cache_teacher=str(other))
    with pytest.raises(BoxCacheError, match="not by"):  # what the SAL runner calls
        mapper.check_previous_teacher([str(other)])
    other.write_bytes(b"weak teacher")  # retrained into the same bytes: the hash, not the path, decides
    mapper.check_previous_teacher([str(other)])
    with pytest.raises(BoxCacheError, match="box_cache_teacher=.*does not exist"):
        _mapper(box_cache=cache, box_cache_teacher=str(tmp_path / "none.pth"))


def test_mapper_argument_errors():
    with pytest.raises(ValueError, match="training mapper"):
        MaskingEnhancementMapper(is_train=False, augmentations=[], image_format="BGR")
    with pytest.raises(ValueError, match="lambda"):
        _mapper(area_threshold=1.5)
    with pytest.raises(ValueError, match="noise_prob"):
        _mapper(noise_prob=-0.1)
    with pytest.raises(ValueError, match="noise_sigma"):
        _mapper(noise_sigma=-3)
    with pytest.raises(ValueError, match="uncached"):
        _mapper(uncached="skip")


def test_enhance_false_is_detectron2s_dataset_mapper(tmp_path):
    """SAL's first stage: the run's mapper with ``enhance=False`` gives what DatasetMapper gives
    (random augmentations included), draws the same random numbers, and reads no box cache."""
    from detectron2.data import DatasetMapper

    augmentations = [T.ResizeShortestEdge([48, 56, 64], max_size=100, sample_style="choice"), T.RandomFlip()]
    kwargs = dict(is_train=True, augmentations=augmentations, image_format="BGR", use_instance_mask=True)
    plain = DatasetMapper(**kwargs)
    off = MaskingEnhancementMapper(**kwargs, enhance=False, box_cache=str(tmp_path / "not_made_yet.json"))
    records = [_record(tmp_path, BIG, image_id=1, name="a.png"), _record(tmp_path, SMALL, image_id=2, name="b.png")]

    def mapped(mapper):
        np.random.seed(5)
        out = [mapper(r) for r in records * 3]
        return out, np.random.random()

    (ours, after_ours), (theirs, after_theirs) = mapped(off), mapped(plain)
    assert after_ours == after_theirs  # the same draws from numpy's generator
    assert len({tuple(o["image"].shape) for o in theirs}) > 1  # the random resize chose several sizes
    for a, b in zip(ours, theirs):
        assert a.keys() == b.keys() and "enhanced_image" not in a
        assert torch.equal(a["image"], b["image"])
        assert torch.equal(a["instances"].gt_boxes.tensor, b["instances"].gt_boxes.tensor)
        assert [[p.tolist() for p in m] for m in a["instances"].gt_masks.polygons] == \
            [[p.tolist() for p in m] for m in b["instances"].gt_masks.polygons]
    off.check_previous_teacher(["any_teacher.pth"])  # no cache: nothing to compare
