#!/usr/bin/env python
"""Fail early, with the numbers, when a folder's disk has too little free space.

`make setup` runs this before it installs into a fresh .venv (torch and
torchvision alone take about 5.6 GiB there), and the test suite's conftest runs
:func:`require_free_space` on pytest's temporary folder. Without the check a full
disk shows up much later as a wall of unrelated test errors.

    python tools/check_disk.py --path .venv --need-gib 7 --what "the .venv install"
"""
import argparse
import os
import shutil
import sys

GIB = 1024**3


def existing_parent(path):
    """The nearest folder at or above `path` that exists (the venv may not yet)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def free_gib(path):
    """Free space, in GiB, on the file system that holds `path`."""
    return shutil.disk_usage(existing_parent(path)).free / GIB


def require_free_space(path, need_gib, what):
    """Raise SystemExit naming the shortfall when `path` has under `need_gib` GiB free."""
    have = free_gib(path)
    if have < need_gib:
        raise SystemExit(
            f"Not enough disk space for {what}: {have:.1f} GiB free on the file system of "
            f"{existing_parent(path)}, {need_gib:g} GiB needed. Free some space (old clones, "
            f"pytest's temporary folders, output/) and run the command again."
        )
    return have


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="folder that will be written")
    parser.add_argument("--need-gib", type=float, required=True, help="free space needed, GiB")
    parser.add_argument("--what", default="this step", help="what needs the space, for the error")
    args = parser.parse_args(argv)
    have = require_free_space(args.path, args.need_gib, args.what)
    print(f"{have:.1f} GiB free for {args.what} ({args.need_gib:g} GiB needed).")


if __name__ == "__main__":
    sys.exit(main())
