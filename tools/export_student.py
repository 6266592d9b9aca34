#!/usr/bin/env python
"""Export the plain student of a distillation run.

The run's checkpoint holds the student (``student.*``) and the distillation
modules (adapters, generators); no teacher. The exported file holds only the
student's weights, with the student's own key names, so that the bare student
config loads it strictly::

    python tools/export_student.py --checkpoint output/mkd/model_final.pth --output student.pth
    python tools/lazyconfig_train_net.py --config-file <bare student config> --eval-only \\
        train.init_checkpoint=student.pth
"""
import argparse
import os
import sys

import torch

from d2kd.modeling.checkpoint import STUDENT_PREFIX, WeightsError
from d2kd.utils.io import atomic_torch_save


def export_student(checkpoint: str, output: str, *, force: bool = False) -> int:
    """Write the student's state dict of ``checkpoint`` to ``output``; return its key count."""
    if os.path.exists(output) and os.path.exists(checkpoint) and os.path.samefile(output, checkpoint):
        raise FileExistsError(f"--output {output} is the checkpoint it reads; write the student elsewhere "
                              "(--force does not replace the checkpoint of a run).")
    if os.path.exists(output) and not force:
        raise FileExistsError(f"{output} exists; pass --force to overwrite it.")
    if not os.path.isfile(checkpoint):
        raise WeightsError(f"Checkpoint {checkpoint!r} does not exist.")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = state.get("model", state)
    student = {k[len(STUDENT_PREFIX):]: v for k, v in state.items() if k.startswith(STUDENT_PREFIX)}
    if not student:
        raise WeightsError(
            f"{checkpoint!r} has no '{STUDENT_PREFIX}*' keys: it is not a DistillationDetector "
            "checkpoint (a plain model checkpoint needs no export)."
        )
    atomic_torch_save({"model": student}, output)  # an interrupted export leaves no partial file
    return len(student)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a distillation run's .pth")
    parser.add_argument("--output", required=True, help="where to write the student .pth")
    parser.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    args = parser.parse_args(argv)
    try:
        count = export_student(args.checkpoint, args.output, force=args.force)
    except (WeightsError, FileExistsError) as e:
        sys.exit(f"error: {e}")
    print(f"Wrote {count} student tensors to {args.output}")


if __name__ == "__main__":
    main()
