"""Configs inherit downward: the Faster R-CNN and Mask R-CNN distillation configs on the
bundled data are built from configs/common pieces, never from a RetinaNet file."""
import glob
import os

import pytest
from tool_runs import ROOT

from benchmarks.runner import _imported_configs

R_CNN_LEAVES = sorted(
    p for pattern in ("configs/baselines/*_rcnn.py", "configs/sanity/*_rcnn*.py",
                      "projects/*/configs/Shapes/*_rcnn.py", "projects/*/configs/COCO/*_rcnn.py")
    for p in glob.glob(os.path.join(ROOT, pattern)) if "retinanet" not in os.path.basename(p))


def _reads(path):
    seen, stack = set(), [os.path.abspath(path)]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(os.path.abspath(p) for p in _imported_configs(current))
    return seen - {os.path.abspath(path)}


def test_the_r_cnn_leaves_are_found():
    names = {os.path.relpath(p, ROOT) for p in R_CNN_LEAVES}
    assert {"projects/MKD/configs/Shapes/mkd_R18w64_to_R18_faster_rcnn.py",
            "projects/DFMSD/configs/Shapes/dfmsd_R34_R18w64_to_R18_faster_rcnn.py",
            "configs/baselines/fitnet_R18w64_to_R18_faster_rcnn.py",
            "projects/MKD/configs/COCO/mkd_R101_to_R50_mask_rcnn.py"} <= names


@pytest.mark.parametrize("path", R_CNN_LEAVES, ids=lambda p: os.path.relpath(p, ROOT))
def test_an_r_cnn_distillation_config_reads_no_retinanet_file(path):
    retinanet = sorted(os.path.relpath(p, ROOT) for p in _reads(path) if "retinanet" in os.path.basename(p))
    assert not retinanet, f"{os.path.relpath(path, ROOT)} reads {retinanet}"


@pytest.mark.parametrize("detector", ["retinanet", "faster_rcnn", "mask_rcnn"])
def test_the_coco_mkd_configs_are_built_from_common_pieces_only(detector):
    """Each COCO MKD config reads only shared pieces (never another leaf, such as a teacher's
    runnable config or the RetinaNet MKD config)."""
    path = os.path.join(ROOT, f"projects/MKD/configs/COCO/mkd_R101_to_R50_{detector}.py")
    leaves = sorted(os.path.relpath(p, ROOT) for p in _reads(path) if f"{os.sep}common{os.sep}" not in p)
    assert not leaves, f"{os.path.relpath(path, ROOT)} reads {leaves}"
