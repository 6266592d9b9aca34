"""Masking enhancement (ME), DFMSD section 3.4 and eq. 4.

Per training image, ``Area(x)`` = summed area of the candidate boxes / image
area. Candidate boxes are the weaker teacher's detections, cached once by
``python -m dfmsd.cache_boxes`` (:mod:`dfmsd.box_cache`), or the ground-truth
boxes when no cache is given. Then (eq. 4):

- ``Area(x) >= lambda`` (mostly large objects): a random proportional crop,
  resized back to the view's size (a zoom: low frequencies up), boxes and
  masks transformed with the image;
- ``Area(x) < lambda`` (mostly small objects): Gaussian noise N(0, sigma^2),
  on the 0-255 pixel scale, added with probability p (high frequencies up);
  with probability 1 - p the enhanced view equals the normal one.

:class:`MaskingEnhancementMapper` returns this enhanced view beside the
normal one; :class:`dfmsd.DFMSDDetector` computes L_ME on it.
"""
import copy
import logging
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

import detectron2.data.transforms as T
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.structures import BoxMode

from .box_cache import BoxCache, BoxCacheError, image_key

__all__ = [
    "ENHANCEMENT_OPS",
    "box_area_ratio",
    "gt_boxes_xyxy",
    "ProportionalCrop",
    "MaskingEnhancement",
    "MaskingEnhancementMapper",
]

logger = logging.getLogger(__name__)

ENHANCEMENT_OPS = ("crop", "noise", "none")


def box_area_ratio(boxes: np.ndarray, height: int, width: int) -> float:
    """Area(x) of DFMSD eq. 4: ``sum_k area(clip(box_k)) / (height * width)``.

    Boxes are clipped to the image first; overlapping boxes count twice (a
    sum, as the paper says, not the area of the union), so the ratio can
    exceed 1.

    Args:
        boxes: (K, 4) XYXY boxes in pixels; K may be 0.
        height, width: image size in pixels.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return 0.0
    x0, x1 = np.clip(boxes[:, 0], 0, width), np.clip(boxes[:, 2], 0, width)
    y0, y1 = np.clip(boxes[:, 1], 0, height), np.clip(boxes[:, 3], 0, height)
    areas = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return float(areas.sum() / (height * width))


def gt_boxes_xyxy(annotations: Sequence[dict]) -> np.ndarray:
    """(K, 4) XYXY boxes of the non-crowd annotations of a dataset dict."""
    boxes = [
        BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
        for a in annotations
        if a.get("iscrowd", 0) == 0
    ]
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


class _UnclippedCrop(T.CropTransform):
    """A CropTransform whose polygons are shifted but not clipped.

    fvcore clips cropped polygons with shapely, which detectron2 does not
    require; vertices outside the crop are harmless here (a polygon is
    rasterised inside its box, and boxes are clipped to the image).
    """

    def apply_polygons(self, polygons: list) -> list:
        return [self.apply_coords(np.asarray(p, dtype=float)) for p in polygons]


@dataclass(frozen=True)
class ProportionalCrop:
    """Random proportional crop of DFMSD's ME, as a detectron2 transform factory.

    A crop of ``r * H`` by ``r * W`` pixels (r ~ U(min_ratio, max_ratio), the
    same r for both sides, so the aspect ratio is kept) at a uniformly random
    position, resized back to H x W.
    """

    min_ratio: float = 0.6
    max_ratio: float = 0.9

    def __post_init__(self):
        if not 0 < self.min_ratio <= self.max_ratio <= 1:
            raise ValueError(
                "crop_ratio must be (min, max) with 0 < min <= max <= 1, got "
                f"({self.min_ratio}, {self.max_ratio})"
            )

    def get_transform(self, height: int, width: int, rng: np.random.Generator) -> T.TransformList:
        r = rng.uniform(self.min_ratio, self.max_ratio)
        crop_h, crop_w = max(1, int(round(r * height))), max(1, int(round(r * width)))
        y0 = int(rng.integers(0, height - crop_h + 1))
        x0 = int(rng.integers(0, width - crop_w + 1))
        return T.TransformList(
            [
                _UnclippedCrop(x0, y0, crop_w, crop_h),
                T.ResizeTransform(crop_h, crop_w, height, width),
            ]
        )


class MaskingEnhancement:
    """The ME decision and the image operations (eq. 4), independent of data loading.

    Args:
        area_threshold: lambda; ``Area(x) >= lambda`` crops, else noise. In [0, 1].
        noise_sigma: sigma of the Gaussian noise on the 0-255 scale, >= 0.
        noise_prob: p, probability of adding noise when ``Area(x) < lambda``, in [0, 1].
        crop_ratio: (min, max) side ratio of the proportional crop, 0 < min <= max <= 1.
    """

    def __init__(
        self,
        area_threshold: float = 0.5,
        noise_sigma: float = 15.0,
        noise_prob: float = 0.5,
        crop_ratio: Tuple[float, float] = (0.6, 0.9),
    ):
        for name, value in (("area_threshold (lambda)", area_threshold), ("noise_prob (p)", noise_prob)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"MaskingEnhancement: {name} must be in [0, 1], got {value!r}")
        if isinstance(noise_sigma, bool) or not isinstance(noise_sigma, (int, float)) or not noise_sigma >= 0:
            raise ValueError(f"MaskingEnhancement: noise_sigma must be >= 0, got {noise_sigma!r}")
        if len(crop_ratio) != 2:
            raise ValueError(f"MaskingEnhancement: crop_ratio must be (min, max), got {crop_ratio!r}")
        self.area_threshold = float(area_threshold)
        self.noise_sigma = float(noise_sigma)
        self.noise_prob = float(noise_prob)
        self.crop = ProportionalCrop(float(crop_ratio[0]), float(crop_ratio[1]))

    def decide(self, area: float, rng: np.random.Generator) -> str:
        """``"crop"`` if area >= lambda; else ``"noise"`` with probability p, ``"none"`` otherwise."""
        if area >= self.area_threshold:
            return "crop"
        return "noise" if rng.random() < self.noise_prob else "none"

    def add_noise(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``clip(image + N(0, sigma^2), 0, 255)`` as float32; image is (H, W, C) on the 0-255 scale."""
        noise = rng.normal(0.0, self.noise_sigma, size=image.shape)
        return np.clip(image.astype(np.float32) + noise.astype(np.float32), 0.0, 255.0)

    def __repr__(self) -> str:
        return (
            f"MaskingEnhancement(lambda={self.area_threshold}, sigma={self.noise_sigma}, "
            f"p={self.noise_prob}, crop_ratio=({self.crop.min_ratio}, {self.crop.max_ratio}))"
        )


class MaskingEnhancementMapper(DatasetMapper):
    """A training :class:`~detectron2.data.DatasetMapper` that adds DFMSD's enhanced view.

    Besides the usual ``image`` (uint8, (3, H, W)) and ``instances``, each
    output dict has:

    - ``enhanced_image``: float32 (3, H, W) on the 0-255 scale, the normal
      view after the ME operation (same size as ``image``);
    - ``enhanced_instances``: the ground truth in the enhanced view (boxes and
      masks cropped and resized with the image by detectron2 transforms; empty
      instances removed); equal to ``instances`` for noise and no-op;
    - ``enhancement``: ``{"op": "crop" | "noise" | "none", "area": Area(x)}``.

    ``Area(x)`` is computed on the original image (before the mapper's
    augmentations, which scale both areas alike).

    Args:
        is_train: must be True (the enhanced view is a training input).
        augmentations, image_format, use_instance_mask, ...: as DatasetMapper.
        area_threshold, noise_sigma, noise_prob, crop_ratio: see :class:`MaskingEnhancement`.
        box_cache: path of a cache from ``python -m dfmsd.cache_boxes``; "" takes
            the ground-truth boxes as candidates.
        score_threshold: keep cached boxes with at least this score; default:
            all cached boxes (the cache's own threshold).
        dataset_names: the datasets this mapper will see (e.g.
            ``"${dataloader.train.dataset.names}"`` in a config); with a cache, checked at
            construction that the cache was made for them and covers every image.
        uncached: what to do with an image the cache lacks: ``"error"`` (default,
            raised at construction when ``dataset_names`` is given) or
            ``"ground_truth"`` (use its GT boxes; the count is logged).
        box_cache_teacher: path of the teacher checkpoint the box cache must have been made
            by (its sha256 is compared with the one the cache records); "" compares
            nothing here. A SAL run compares a stage's cache with the previous stage's
            teacher itself (:meth:`check_previous_teacher`).
        seed: seed of the mapper's random generator (per data-loader worker:
            ``[seed, worker_id]``); default None draws it from numpy's global
            RNG, which detectron2 seeds per worker.
        enhance: False makes the mapper detectron2's own ``DatasetMapper`` (no enhanced
            view, no box cache read, no random number drawn): the first SAL stage's, so
            that a run declares its mapper once and that stage only switches ME off
            (``stages.0.dataloader.train.mapper.enhance=False``).
    """

    def __init__(
        self,
        is_train: bool = True,
        *,
        enhance: bool = True,
        area_threshold: float = 0.5,
        noise_sigma: float = 15.0,
        noise_prob: float = 0.5,
        crop_ratio: Tuple[float, float] = (0.6, 0.9),
        box_cache: str = "",
        box_cache_teacher: str = "",
        score_threshold: Optional[float] = None,
        dataset_names=None,
        uncached: str = "error",
        seed: Optional[int] = None,
        **kwargs,
    ):
        if not is_train:
            raise ValueError(
                "MaskingEnhancementMapper is a training mapper (is_train=True); use "
                "DatasetMapper for evaluation."
            )
        if kwargs.get("precomputed_proposal_topk") is not None:
            raise ValueError("MaskingEnhancementMapper does not support precomputed proposals")
        super().__init__(is_train, **kwargs)
        self.enhance = bool(enhance)
        self.enhancement = MaskingEnhancement(area_threshold, noise_sigma, noise_prob, crop_ratio)
        if uncached not in ("error", "ground_truth"):
            raise ValueError(f"uncached must be 'error' or 'ground_truth', got {uncached!r}")
        if score_threshold is not None and not 0 <= score_threshold <= 1:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
        self.uncached = uncached
        self.score_threshold = score_threshold
        self.seed = seed
        self._rng: Optional[np.random.Generator] = None
        self._warned_uncached = False
        self.box_cache: Optional[BoxCache] = None
        if not self.enhance:
            logger.info("[MaskingEnhancementMapper] enhance=False: no enhanced view (detectron2's DatasetMapper)")
        elif box_cache:
            self.box_cache = BoxCache.load(box_cache)
            names = [dataset_names] if isinstance(dataset_names, str) else list(dataset_names or [])
            self.box_cache.check_usable(score_threshold, names)
            if names:
                self._check_coverage(names)
            if box_cache_teacher:
                if not os.path.isfile(box_cache_teacher):
                    raise BoxCacheError(f"box_cache_teacher={box_cache_teacher!r} does not exist")
                if not self.box_cache.check_teacher([box_cache_teacher]):
                    logger.warning("[MaskingEnhancementMapper] %s records no teacher hash (made by an older "
                                   "version of the cache tool): box_cache_teacher not verified", box_cache)
            teacher = self.box_cache.document.get("teacher", {})
            logger.info(
                "[MaskingEnhancementMapper] %s; candidate boxes from %s (score >= %s), made by %s (sha256 %s)",
                self.enhancement,
                box_cache,
                score_threshold if score_threshold is not None else self.box_cache.score_threshold,
                teacher.get("weights", "?"),
                (self.box_cache.teacher_sha256 or "not recorded")[:12],
            )
        else:
            logger.info(
                "[MaskingEnhancementMapper] %s; candidate boxes from the ground truth (no box cache)",
                self.enhancement,
            )

    def check_previous_teacher(self, weights_paths: Sequence[str]) -> None:
        """Called by the SAL runner before training with the checkpoint(s) of the previous
        stage's teacher, the one DFMSD takes Area(x) from: a box cache made by another
        checkpoint is a :class:`BoxCacheError`."""
        if self.box_cache is not None:
            self.box_cache.check_teacher(weights_paths)

    def _check_coverage(self, names: List[str]) -> None:
        records = [r for name in names for r in DatasetCatalog.get(name)]
        missing = self.box_cache.missing(records)
        if not missing:
            return
        if self.uncached == "error":
            raise BoxCacheError(
                f"Box cache {self.box_cache.path!r} lacks {len(missing)} of the {len(records)} "
                f"images of {names} (e.g. keys {missing[:5]}), or holds other images under "
                "their ids. Re-create it for this dataset with python -m dfmsd.cache_boxes, "
                "or pass uncached='ground_truth' to use their ground-truth boxes."
            )
        logger.warning(
            "[MaskingEnhancementMapper] %d of %d images are not in the box cache; their "
            "ground-truth boxes are used for Area(x).",
            len(missing),
            len(records),
        )

    def rng(self) -> np.random.Generator:
        """This process's random generator (created on first use, so each worker has its own)."""
        if self._rng is None:
            info = torch.utils.data.get_worker_info()
            worker = info.id if info is not None else 0
            if self.seed is None:
                self._rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
            else:
                self._rng = np.random.default_rng([int(self.seed), worker])
        return self._rng

    def candidate_boxes(self, dataset_dict: dict) -> np.ndarray:
        """(K, 4) XYXY candidate boxes in original-image pixels (cache, else ground truth)."""
        if self.box_cache is not None:
            boxes = self.box_cache.boxes(dataset_dict, self.score_threshold)
            if boxes is not None:
                return boxes
            if self.uncached == "error":
                raise BoxCacheError(
                    f"Image {image_key(dataset_dict)!r} ({dataset_dict['file_name']}) is not in the "
                    f"box cache {self.box_cache.path!r}; re-create the cache for this dataset or "
                    "pass uncached='ground_truth'."
                )
            if not self._warned_uncached:
                logger.warning("Images outside the box cache use their ground-truth boxes.")
                self._warned_uncached = True
        return gt_boxes_xyxy(dataset_dict.get("annotations", []))

    def _instances(self, annotations: List[dict], transforms, image_shape):
        """Ground truth of one view (detectron2's own annotation transform and filtering)."""
        holder = {"annotations": annotations}
        self._transform_annotations(holder, transforms, image_shape)
        instances = holder["instances"]
        instances.gt_boxes.clip(image_shape)
        return utils.filter_empty_instances(instances)

    def __call__(self, dataset_dict: dict) -> dict:
        if not self.enhance:
            return super().__call__(dataset_dict)
        dataset_dict = copy.deepcopy(dataset_dict)
        image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        utils.check_image_size(dataset_dict, image)
        area = box_area_ratio(self.candidate_boxes(dataset_dict), *image.shape[:2])

        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        height, width = image.shape[:2]

        rng = self.rng()
        op = self.enhancement.decide(area, rng)
        enhanced_transforms = transforms
        if op == "crop":
            extra = self.enhancement.crop.get_transform(height, width, rng)
            enhanced = extra.apply_image(image).astype(np.float32)
            enhanced_transforms = transforms + extra
        elif op == "noise":
            enhanced = self.enhancement.add_noise(image, rng)
        else:
            enhanced = image.astype(np.float32)

        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        dataset_dict["enhanced_image"] = torch.as_tensor(np.ascontiguousarray(enhanced.transpose(2, 0, 1)))
        dataset_dict["enhancement"] = {"op": op, "area": area}
        annotations = dataset_dict.pop("annotations", None)
        dataset_dict.pop("sem_seg_file_name", None)
        if annotations is not None:
            enhanced_annotations = copy.deepcopy(annotations)
            dataset_dict["instances"] = self._instances(annotations, transforms, (height, width))
            dataset_dict["enhanced_instances"] = self._instances(
                enhanced_annotations, enhanced_transforms, (height, width)
            )
        return dataset_dict
