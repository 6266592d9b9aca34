"""Data loaders and COCO evaluation on the bundled synthetic shapes dataset.

The dataset is generated on first use into $D2KD_DATASETS (see d2kd/data).
Switch scale with ``dataloader.train.dataset.names=d2kd_shapes_tiny_train``
and ``dataloader.test.dataset.names=d2kd_shapes_tiny_val``.
"""
from omegaconf import OmegaConf

import d2kd.data  # noqa: F401  (registers the d2kd_shapes_* datasets)
import detectron2.data.transforms as T
from d2kd.utils.env import has_compiled_ops
from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.evaluation import COCOEvaluator

dataloader = OmegaConf.create()

dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="d2kd_shapes_bench_train"),
    mapper=L(DatasetMapper)(
        is_train=True,
        augmentations=[
            # The images are 160-256 px; training at a short edge of about 128 px keeps a
            # CPU iteration of the Faster R-CNN student near 0.5 s (8 images, one core),
            # so that a detector learns in minutes (docs/RESULTS.md, "Scale and schedule").
            L(T.ResizeShortestEdge)(
                short_edge_length=(112, 128, 144), sample_style="choice", max_size=256
            ),
            L(T.RandomFlip)(horizontal=True),
        ],
        image_format="BGR",
        use_instance_mask=False,
    ),
    total_batch_size=8,
    num_workers=1,
)

dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="d2kd_shapes_bench_val", filter_empty=False),
    mapper=L(DatasetMapper)(
        is_train=False,
        augmentations=[L(T.ResizeShortestEdge)(short_edge_length=128, max_size=256)],
        image_format="${...train.mapper.image_format}",
    ),
    num_workers=1,
)

dataloader.evaluator = L(COCOEvaluator)(
    dataset_name="${..test.dataset.names}",
    # detectron2's fast C++ COCOeval needs the compiled extension; pycocotools otherwise
    use_fast_impl=has_compiled_ops(),
)
