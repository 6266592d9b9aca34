#!/usr/bin/env python
"""Moved to the DFMSD project: ``python -m dfmsd.cache_boxes`` (projects/DFMSD/dfmsd/cache_boxes.py).

This forwarder stays for the commands that name the old path (the commands of runs
recorded before the move): it prints a one-line notice and runs the new tool with the same arguments.
"""
import sys

from dfmsd.cache_boxes import cli

NOTICE = ("tools/cache_teacher_boxes.py is deprecated: use python -m dfmsd.cache_boxes "
          "(the same arguments)")

if __name__ == "__main__":
    print(NOTICE, file=sys.stderr)
    cli()
