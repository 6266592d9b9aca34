#!/usr/bin/env python
"""Generates the bundled synthetic shapes dataset (see d2kd/data/shapes.py).

Usage:
    python tools/make_dataset.py --scale bench [--root DIR] [--force] [--workers N]

Without --root the dataset goes where training looks for it
(``$D2KD_DATASETS``, else ``$DETECTRON2_DATASETS/d2kd_shapes``, else
``./datasets/d2kd_shapes``). A split that is already complete and current is
kept unless --force is given. Training generates missing splits on demand, so
running this tool is optional; it is useful to generate once before a
multi-process run or to regenerate corrupt files.
"""
import argparse
import json
import logging
import time

from d2kd.data import SCALES, dataset_root, ensure_split, summarize_annotations
from d2kd.data.shapes import SPLITS


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="tiny", help="dataset scale")
    parser.add_argument(
        "--root",
        default=None,
        help="dataset root (default: $D2KD_DATASETS, $DETECTRON2_DATASETS/d2kd_shapes "
        "or ./datasets/d2kd_shapes)",
    )
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--force", action="store_true", help="regenerate even when current")
    parser.add_argument("--workers", type=int, default=2, help="generator processes (default: 2)")
    return parser


def _format_summary(summary: dict) -> str:
    shares = ", ".join(f"{k} {v:.1%}" for k, v in summary["shares"].items())
    classes = ", ".join(f"{k} {v}" for k, v in summary["per_class"].items())
    return (
        f"{summary['images']} images, {summary['instances']} instances "
        f"({summary['instances'] / max(summary['images'], 1):.1f} per image)\n"
        f"    sizes: {shares}\n    classes: {classes}"
    )


def main(args: argparse.Namespace) -> None:
    root = args.root or dataset_root()
    for split in args.splits:
        start = time.perf_counter()
        json_path = ensure_split(root, args.scale, split, force=args.force, workers=args.workers)
        seconds = time.perf_counter() - start
        with open(json_path) as f:
            summary = summarize_annotations(json.load(f))
        print(f"{args.scale}/{split}: {json_path} ({seconds:.1f} s)")
        print(f"    {_format_summary(summary)}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(get_parser().parse_args())
