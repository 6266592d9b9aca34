"""Candidate boxes of the weaker teacher, cached once over a training set.

Written by ``python -m dfmsd.cache_boxes`` (:mod:`dfmsd.cache_boxes`), read by
:class:`dfmsd.enhancement.MaskingEnhancementMapper` to compute ``Area(x)``
(DFMSD eq. 4). The file is JSON::

    {
      "format": "d2kd-teacher-boxes", "version": 1,
      "datasets": ["d2kd_shapes_bench_train"],
      "num_images": 3000,             # images of the datasets
      "complete": true,               # false while the tool is still running
      "score_threshold": 0.3,         # boxes with a lower score were not kept
      "teacher": {"config": ..., "weights": ..., "sha256": ...},  # sha256 of the weights file
      "images": {
        "<key>": {"file_name": "000000.jpg", "height": 200, "width": 240,
                  "boxes": [[x0, y0, x1, y1], ...], "scores": [0.9, ...]},
        ...
      }
    }

Keys are ``str(image_id)`` (``file_name``'s base name for datasets without
ids), boxes are XYXY in the pixels of the original image.
"""
import json
import logging
import os
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from d2kd.utils.io import file_sha256

__all__ = [
    "CACHE_FORMAT",
    "CACHE_VERSION",
    "BoxCacheError",
    "BoxCache",
    "image_key",
    "new_cache",
    "write_cache",
]

logger = logging.getLogger(__name__)

CACHE_FORMAT = "d2kd-teacher-boxes"
CACHE_VERSION = 1
CACHE_COMMAND = "python -m dfmsd.cache_boxes --config-file <your DFMSD config> <the run's overrides>"
# how the run finds a cache made for other data than its config names
POINT_THE_RUN = ("; it writes output/DFMSD/box_cache/<weak teacher>_<training set>.json and prints the override "
                 "that points the run at it, dataloader.train.mapper.box_cache=<that file>")


class BoxCacheError(ValueError):
    """A box cache that is missing, unreadable, incomplete or made for another dataset."""


def image_key(record: dict) -> str:
    """The cache key of a detectron2 dataset dict: ``str(image_id)``, else the file's base name."""
    if record.get("image_id") is not None:
        return str(record["image_id"])
    return os.path.basename(record["file_name"])


def new_cache(datasets: Sequence[str], num_images: int, score_threshold: float, teacher: dict) -> dict:
    """An empty, incomplete cache document."""
    return {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "datasets": list(datasets),
        "num_images": int(num_images),
        "complete": False,
        "score_threshold": float(score_threshold),
        "teacher": dict(teacher),
        "images": {},
    }


def write_cache(path: str, document: dict) -> None:
    """Write atomically (temporary file, then rename), so an interrupted write never corrupts it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(document, f)
    os.replace(tmp, path)


def _as_list(names) -> List[str]:
    if names is None:
        return []
    return [names] if isinstance(names, str) else list(names)


class BoxCache:
    """Read access to a cache file.

    Args:
        document: the parsed JSON (see the module docstring).
        path: where it was read from (for messages).
    """

    def __init__(self, document: dict, path: str = "<memory>"):
        if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT:
            raise BoxCacheError(
                f"{path!r} is not a teacher box cache (no format {CACHE_FORMAT!r}); "
                f"make one with: {CACHE_COMMAND}"
            )
        if document.get("version") != CACHE_VERSION:
            raise BoxCacheError(
                f"{path!r} has cache version {document.get('version')!r}, this code reads "
                f"{CACHE_VERSION}; re-create it with: {CACHE_COMMAND}"
            )
        self.path = path
        self.document = document
        self.images: Dict[str, dict] = document.get("images", {})

    @classmethod
    def load(cls, path: str) -> "BoxCache":
        if not path or not os.path.isfile(path):
            raise BoxCacheError(
                f"Box cache {path!r} does not exist. Make it with the weaker teacher first: "
                f"{CACHE_COMMAND}{POINT_THE_RUN} (or set box_cache='' to take Area(x) from the ground truth)."
            )
        try:
            with open(path) as f:
                document = json.load(f)
        except (OSError, ValueError) as e:
            raise BoxCacheError(f"Cannot read box cache {path!r}: {e}") from e
        return cls(document, path)

    @property
    def datasets(self) -> List[str]:
        return _as_list(self.document.get("datasets"))

    @property
    def score_threshold(self) -> float:
        return float(self.document.get("score_threshold", 0.0))

    @property
    def teacher_sha256(self) -> Optional[str]:
        """sha256 of the teacher checkpoint that made the cache (None for caches made before it was recorded)."""
        return self.document.get("teacher", {}).get("sha256") or None

    def check_teacher(self, weights_paths: Sequence[str]) -> bool:
        """Raise :class:`BoxCacheError` unless the cache was made by one of ``weights_paths``.

        Compares the sha256 recorded in the cache with each file's, so a teacher
        retrained at the same path is caught too. Returns False (nothing to compare)
        when the cache records no hash or no path is a local file, True when one matches.
        """
        recorded = self.teacher_sha256
        local = [str(p) for p in weights_paths if p and os.path.isfile(str(p))]
        if recorded is None or not local:
            return False
        hashes = {path: file_sha256(path) for path in local}
        if recorded in hashes.values():
            return True
        made_by = self.document.get("teacher", {}).get("weights", "?")
        expected = ", ".join(f"{path} (sha256 {digest[:12]})" for path, digest in hashes.items())
        raise BoxCacheError(
            f"Box cache {self.path!r} was made by the teacher checkpoint {made_by} (sha256 {recorded[:12]}), "
            f"not by {expected}, the teacher this config takes its boxes from. Re-create it with that "
            f"teacher: {CACHE_COMMAND} --overwrite"
        )

    @property
    def complete(self) -> bool:
        return bool(self.document.get("complete", False))

    def check_usable(self, score_threshold: Optional[float], dataset_names: Iterable[str] = ()) -> None:
        """Raise :class:`BoxCacheError` if the cache cannot serve these settings.

        Args:
            score_threshold: the threshold the reader wants; it cannot be below
                the one the cache was written with (those boxes were dropped).
            dataset_names: datasets the reader trains on; each must be one the
                cache was made for.
        """
        if not self.complete:
            raise BoxCacheError(
                f"Box cache {self.path!r} is incomplete ({len(self.images)} of "
                f"{self.document.get('num_images', '?')} images): the tool was interrupted. "
                "Run python -m dfmsd.cache_boxes again with the same arguments to finish it."
            )
        if score_threshold is not None and score_threshold < self.score_threshold - 1e-12:
            raise BoxCacheError(
                f"score_threshold={score_threshold} is below the threshold the box cache "
                f"{self.path!r} was written with ({self.score_threshold}); the boxes in between "
                "were not kept. Raise it, or re-create the cache with --score-threshold."
            )
        other = [n for n in _as_list(dataset_names) if n not in self.datasets]
        if other:
            raise BoxCacheError(
                f"Box cache {self.path!r} was made for {self.datasets}, not for {other}. "
                f"Make one for this dataset: {CACHE_COMMAND}{POINT_THE_RUN}."
            )

    def missing(self, records: Iterable[dict]) -> List[str]:
        """Keys of ``records`` that the cache lacks or that describe another image.

        An entry describes another image when its file base name or size
        differs from the record's (e.g. a cache of another scale of a dataset
        with the same image ids).
        """
        bad = []
        for record in records:
            entry = self.images.get(image_key(record))
            if entry is None or not self._same_image(entry, record):
                bad.append(image_key(record))
        return bad

    @staticmethod
    def _same_image(entry: dict, record: dict) -> bool:
        if os.path.basename(entry.get("file_name", "")) != os.path.basename(record["file_name"]):
            return False
        for key in ("height", "width"):
            if key in entry and key in record and int(entry[key]) != int(record[key]):
                return False
        return True

    def boxes(self, record: dict, score_threshold: Optional[float] = None) -> Optional[np.ndarray]:
        """(K, 4) float32 XYXY boxes of ``record``'s image with score >= threshold; None if not cached."""
        entry = self.images.get(image_key(record))
        if entry is None or not self._same_image(entry, record):
            return None
        boxes = np.asarray(entry.get("boxes", []), dtype=np.float32).reshape(-1, 4)
        if score_threshold is not None and len(boxes):
            scores = np.asarray(entry.get("scores", []), dtype=np.float32)
            boxes = boxes[scores >= score_threshold]
        return boxes
