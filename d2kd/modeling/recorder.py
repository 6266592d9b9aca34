"""Capture a module's input and output during a forward pass it runs anyway."""
from typing import Any, Optional

from torch import nn


class ForwardRecorder:
    """Context manager that records what ``module`` receives and returns.

    Used to take the student's backbone features from the student's own,
    unmodified forward (no second backbone pass). The hooks are removed on exit,
    also when the forward raises.

    Example::

        with ForwardRecorder(student.backbone) as rec:
            losses = student(batched_inputs)
        features = rec.output  # dict: level -> (N, C, H, W)
        images = rec.input     # (N, 3, H_pad, W_pad), the backbone's input tensor
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self.input: Optional[Any] = None
        self.output: Optional[Any] = None
        self.calls = 0
        self._handles = []

    def _record_input(self, module, args):
        self.input = args[0] if len(args) == 1 else args

    def _record_output(self, module, args, output):
        self.output = output
        self.calls += 1

    def __enter__(self):
        self.input, self.output, self.calls = None, None, 0
        self._handles = [
            self.module.register_forward_pre_hook(self._record_input),
            self.module.register_forward_hook(self._record_output),
        ]
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return False
