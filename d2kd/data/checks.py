"""Sanity checks of dataset files, to fail early instead of inside a data-loader worker."""
import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, List, Optional, Tuple

from PIL import Image

from .shapes import IMAGES_DIR, SCALES, SPLITS

__all__ = ["box_problems", "verify_images", "verify_mode", "FULL_DECODE_LIMIT", "VERIFY_MODES"]

_JPEG_START = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"
_MAX_LISTED = 10


def _size_problem(record: dict, size: Tuple[int, int]) -> Optional[str]:
    """A (width, height) ``size`` that differs from the record's annotated one, or None."""
    expected = (record.get("width"), record.get("height"))
    if None not in expected and tuple(expected) != size:
        return f"is {size[0]}x{size[1]} but the annotations say {expected[0]}x{expected[1]}"
    return None


def _image_problem(record: dict) -> Optional[str]:
    """Why the image of a detectron2 dataset dict cannot be used, or None when it decodes.

    Decodes the whole file (JPEGs at 1/8 scale, which still reads every
    entropy-coded byte) and compares the size with ``height``/``width`` when
    the dict has them.
    """
    path = record["file_name"]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not data:
        return "is empty"
    if data.startswith(_JPEG_START) and not data.rstrip(b"\x00").endswith(_JPEG_END):
        return "is a truncated JPEG (no end-of-image marker)"
    try:
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
            image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
            image.load()
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, ... on bad data
        return f"cannot be decoded ({type(e).__name__}: {e})"
    return _size_problem(record, size)


def _header_problem(record: dict) -> Optional[str]:
    """The cheap check: the file exists and is not empty, a JPEG ends with its end-of-image
    marker, and the header (read by PIL without decoding) gives the annotated size."""
    path = record["file_name"]
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            if not head:
                return "is empty"
            f.seek(max(0, os.path.getsize(path) - 64))
            tail = f.read()
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if head == _JPEG_START and not tail.rstrip(b"\x00").endswith(_JPEG_END):
        return "is a truncated JPEG (no end-of-image marker)"
    try:
        with Image.open(path) as image:
            size = image.size
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, ... on bad data
        return f"has no readable image header ({type(e).__name__}: {e})"
    return _size_problem(record, size)


# up to this many images "auto" decodes every one (seconds); above, it reads headers only
FULL_DECODE_LIMIT = 5000
VERIFY_MODES = ("auto", "full", "headers", "off")
VERIFY_ENV = "D2KD_VERIFY_IMAGES"


def verify_mode(mode: Optional[str] = None) -> str:
    """``mode``, else ``$D2KD_VERIFY_IMAGES``, else ``auto``; a ValueError for another value."""
    mode = mode or os.environ.get(VERIFY_ENV, "") or "auto"
    if mode not in VERIFY_MODES:
        raise ValueError(f"{VERIFY_ENV}={mode!r}: choose one of {', '.join(VERIFY_MODES)}")
    return mode


def verify_images(dataset_dicts: Iterable[dict], num_threads: int = 4, mode: Optional[str] = None) -> str:
    """Checks that every ``file_name`` in ``dataset_dicts`` exists and is a usable image.

    Args:
        dataset_dicts: detectron2 dataset dicts (``file_name`` and optionally
            ``height``/``width``), e.g. ``DatasetCatalog.get(name)``.
        num_threads: threads (PIL releases the GIL while decoding).
        mode: ``full`` decodes every image (JPEGs at 1/8 scale); ``headers`` reads
            each file's header and its last bytes only (a COCO-size set in seconds,
            not minutes; it misses corruption in the middle of a file); ``auto``
            (default) is ``full`` up to :data:`FULL_DECODE_LIMIT` images, else
            ``headers``; ``off`` checks nothing. Default: ``$D2KD_VERIFY_IMAGES``.

    Returns:
        the mode used.
    Raises:
        ValueError: naming the bad files, why each is bad, and how to fix it.
    """
    mode = verify_mode(mode)
    if mode == "off":
        return mode
    records = list(dataset_dicts)
    if mode == "auto":
        mode = "full" if len(records) <= FULL_DECODE_LIMIT else "headers"
    check = _image_problem if mode == "full" else _header_problem
    with ThreadPoolExecutor(max(1, num_threads)) as pool:
        reasons = pool.map(check, records)
        problems = [(r["file_name"], why) for r, why in zip(records, reasons) if why]
    if problems:
        raise ValueError(_report(problems, len(records)))
    return mode


def box_problems(dataset_dicts: Iterable[dict]) -> List[str]:
    """What detectron2 silently does to odd boxes in ``dataset_dicts``, counted.

    Training (``DatasetMapper``: ``transform_instance_annotations``,
    ``annotations_to_instances``, ``filter_empty_instances``) transforms every box,
    which turns a box of negative width or height into the box spanning ``x+w..x``
    (``y+h..y``): that box is kept and trained on, not dropped (a mapper without any
    augmentation, not one of this project's, drops it instead). It then clips every
    box to its image and drops those left with no area. This names, with a count and
    a first example each: boxes of zero width or height (dropped), boxes of negative
    width or height (flipped and trained on), boxes entirely outside their image
    (dropped), and boxes partly outside it (clipped). Crowd regions are left out, as
    detectron2 ignores them in training. Returns one line per kind found ([] for
    clean annotations).
    """
    from detectron2.structures import BoxMode

    kinds = (
        "have zero width or height (detectron2 drops them in training)",
        "have negative width or height (detectron2 does not drop them: its mapper turns each into the box "
        "spanning x+w..x, y+h..y, and trains on it; fix the json if that box is not the object)",
        "lie entirely outside their image (clipped to nothing and dropped)",
        "reach outside their image (clipped to it)",
    )
    counts, first = [0] * len(kinds), [None] * len(kinds)
    total = 0
    for record in dataset_dicts:
        width, height = record.get("width"), record.get("height")
        for ann in record.get("annotations", ()):
            if ann.get("iscrowd", 0) or "bbox" not in ann:
                continue
            total += 1
            kind = _box_kind(BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYXY_ABS), width, height)
            if kind is None:
                continue
            counts[kind] += 1
            if first[kind] is None:
                first[kind] = f"{record['file_name']} box {[round(float(v), 1) for v in ann['bbox']]}"
    return [f"{n} of {total} boxes {kind}, e.g. {example}"
            for kind, n, example in zip(kinds, counts, first) if n]


def _box_kind(box, width, height) -> Optional[int]:
    """Index into box_problems' kinds for an XYXY ``box`` in a ``width`` x ``height`` image
    (either may be None: then only the size is judged), or None for a clean box.

    A box whose corners are swapped (negative width or height) is judged as detectron2's
    mapper sees it, as the box between them: dropped when it has no area or lies outside
    the image, else flipped."""
    x0, y0, x1, y1 = box
    flipped = x1 < x0 or y1 < y0
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    if x1 == x0 or y1 == y0:
        return 0
    if width is not None and height is not None and (x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height):
        return 2
    if flipped:
        return 1
    if width is not None and height is not None and (x0 < 0 or y0 < 0 or x1 > width or y1 > height):
        return 3
    return None


def _shapes_location(path: str) -> Optional[Tuple[str, str]]:
    """(root, scale) when ``path`` lies at ``<root>/<scale>/<split>/images/<file>``, else None."""
    image_dir = os.path.dirname(os.path.abspath(path))
    split_path = os.path.dirname(image_dir)
    scale_path = os.path.dirname(split_path)
    if (
        os.path.basename(image_dir) == IMAGES_DIR
        and os.path.basename(split_path) in SPLITS
        and os.path.basename(scale_path) in SCALES
    ):
        return os.path.dirname(scale_path), os.path.basename(scale_path)
    return None


def _report(problems: List[Tuple[str, str]], total: int) -> str:
    """The error message of :func:`verify_images`."""
    lines = [f"{len(problems)} of {total} images are missing or corrupt:"]
    lines += [f"  {path} {why}" for path, why in problems[:_MAX_LISTED]]
    if len(problems) > _MAX_LISTED:
        lines.append(f"  ... and {len(problems) - _MAX_LISTED} more")
    location = _shapes_location(problems[0][0])
    if location is not None:
        root, scale = location
        lines.append(
            "Fix: regenerate the d2kd shapes dataset with "
            f"`python tools/make_dataset.py --scale {scale} --root {root} --force`."
        )
    else:
        lines.append(
            "Fix: restore or replace these files (for the bundled d2kd shapes dataset: "
            "`python tools/make_dataset.py --scale <scale> --root <root> --force`)."
        )
    lines.append(f"({VERIFY_ENV}=off skips this check; =headers reads headers only.)")
    return "\n".join(lines)
