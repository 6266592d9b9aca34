"""A user's own COCO-format dataset, written by the tests (not by the shapes generator), and
the README's overrides that declare it: two classes with non-contiguous COCO ids (3 and 7),
squares and disks on noise, 112 px images.

The ``own_coco`` fixture of tests/conftest.py is one such dataset (4 training images, 2
validation images) shared by the test modules; :func:`write_coco_split` writes variants
(odd boxes, other categories) into a test's own folder.
"""
import json

import cv2
import numpy as np

CATEGORIES = [{"id": 3, "name": "square"}, {"id": 7, "name": "disk"}]
SIZE = 112
NUM_TRAIN, NUM_VAL = 4, 2  # images of the shared dataset's splits, 2 boxes each


def write_coco_split(root, split, num_images, seed, extra_annotations=()):
    """Images of squares and disks on noise under root/images, and root/<split>.json."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        image = rng.integers(0, 80, (SIZE, SIZE, 3), dtype=np.uint8)
        for k in range(2):
            side = int(rng.integers(20, 40))
            x, y = (int(v) for v in rng.integers(0, SIZE - side, 2))
            category = CATEGORIES[k % 2]
            color = (230, 60, 60) if category["name"] == "square" else (60, 230, 60)
            if category["name"] == "square":
                cv2.rectangle(image, (x, y), (x + side - 1, y + side - 1), color, -1)
            else:
                cv2.circle(image, (x + side // 2, y + side // 2), side // 2, color, -1)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category["id"],
                                "bbox": [x, y, side, side], "area": side * side, "iscrowd": 0})
        file_name = f"{split}_{image_id:03d}.png"
        cv2.imwrite(str(root / "images" / file_name), image)
        images.append({"id": image_id, "file_name": file_name, "width": SIZE, "height": SIZE})
    for extra in extra_annotations:
        annotations.append({"id": len(annotations) + 1, "iscrowd": 0, **extra})
    path = root / f"{split}.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))
    return path


def write_own_coco(root, num_train=NUM_TRAIN, num_val=NUM_VAL):
    """A whole dataset in ``root``: train.json, val.json and their images; returns ``root``."""
    write_coco_split(root, "train", num_train, seed=0)
    write_coco_split(root, "val", num_val, seed=1)
    return root


def own_data(root, train="own_train", val="own_val"):
    """The README's overrides: declare both splits, point the loaders at them."""
    return [
        f"+datasets.{train}=[{root / 'train.json'},{root / 'images'}]",
        f"+datasets.{val}=[{root / 'val.json'},{root / 'images'}]",
        f"dataloader.train.dataset.names={train}",
        f"dataloader.test.dataset.names={val}",
        # the tests' small scale (the images' own 112 px; batch 2)
        "dataloader.train.mapper.augmentations.0.short_edge_length=[112]",
        "dataloader.test.mapper.augmentations.0.short_edge_length=112",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
    ]
