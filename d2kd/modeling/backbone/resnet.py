"""ResNet-18/34/50/101/152 stages for detectron2's :class:`ResNet`, at any width.

detectron2 v0.6's ``ResNet.make_default_stages(depth=18 or 34)`` passes
bottleneck-only arguments (``stride_in_1x1``) to ``BasicBlock`` and fails.
:func:`make_resnet_stages` builds the same stage lists with ``ResNet.make_stage``
(present in v0.6 and upstream main) and adds a ``base_width`` multiplier, so
that CPU-sized students (``base_width=32``: about a quarter of the parameters) use
the same code path as the paper-sized models.

Used from a lazy config::

    bottom_up=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels="${..stages.base_width}", norm="BN"),
        stages=L(make_resnet_stages)(depth=18, base_width=32, norm="BN"),
        out_features=["res2", "res3", "res4", "res5"],
    )
"""
from typing import List, Optional, Sequence

from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock, ResNet

__all__ = ["RESNET_BLOCKS_PER_STAGE", "make_resnet_stages", "resnet_out_channels"]

RESNET_BLOCKS_PER_STAGE = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
_STAGE_NAMES = ("res2", "res3", "res4", "res5")


def _check_depth(depth: int) -> None:
    if depth not in RESNET_BLOCKS_PER_STAGE:
        raise ValueError(f"ResNet depth must be in {sorted(RESNET_BLOCKS_PER_STAGE)}, not {depth}")


def _num_stages(out_features: Optional[Sequence[str]]) -> int:
    """How many of res2..res5 must be built to produce ``out_features``."""
    if out_features is None:
        return 4
    wanted = [_STAGE_NAMES.index(f) + 1 for f in out_features if f in _STAGE_NAMES]
    return max(wanted, default=0)


def resnet_out_channels(depth: int, base_width: int = 64) -> List[int]:
    """Output channels of res2..res5: ``base_width * (1, 2, 4, 8)``, times 4 for
    bottleneck depths (>= 50)."""
    _check_depth(depth)
    expansion = 4 if depth >= 50 else 1
    return [base_width * expansion * 2**i for i in range(4)]


def make_resnet_stages(
    depth: int,
    *,
    base_width: int = 64,
    in_channels: Optional[int] = None,
    norm: str = "BN",
    stride_in_1x1: bool = True,
    num_groups: int = 1,
    width_per_group: Optional[int] = None,
    res5_dilation: int = 1,
    out_features: Optional[Sequence[str]] = None,
):
    """Stage list for ``ResNet(stem=..., stages=...)``.

    Args:
        depth: 18 or 34 (``BasicBlock``), 50, 101 or 152 (``BottleneckBlock``).
        base_width: width of the network; res2 has ``base_width`` (basic) or
            ``4 * base_width`` (bottleneck) output channels, doubled per stage.
            64 is the standard ResNet.
        in_channels: channels of the stem output; defaults to ``base_width``
            (use ``BasicStem(out_channels=base_width)``).
        norm: detectron2 norm name for every conv ("BN", "FrozenBN", "SyncBN", "GN", ...).
        stride_in_1x1: bottleneck only: stride in the first 1x1 conv (MSRA/caffe2
            style, as in detectron2's R50 checkpoints) instead of the 3x3 conv.
        num_groups, width_per_group: bottleneck only: ResNeXt cardinality and
            res2 bottleneck width per group (``width_per_group`` defaults to
            ``base_width // num_groups``, i.e. a plain ResNet for ``num_groups=1``).
        res5_dilation: bottleneck only: 1, or 2 for a stride-16 res5 (DC5).
        out_features: if given, only the stages needed to produce them are built
            (``ResNet`` would drop the others anyway).

    Returns:
        list[list[CNNBlockBase]]: one list of blocks per stage, res2 first.
        Block strides: res2 1, res3..res5 2 (so res2..res5 have strides 4..32
        after detectron2's stride-4 ``BasicStem``).
    """
    _check_depth(depth)
    bottleneck = depth >= 50
    if not bottleneck and (num_groups != 1 or res5_dilation != 1):
        raise ValueError(f"ResNet-{depth} (BasicBlock) needs num_groups=1 and res5_dilation=1")
    if res5_dilation not in (1, 2):
        raise ValueError(f"res5_dilation must be 1 or 2, got {res5_dilation}")

    blocks_per_stage = RESNET_BLOCKS_PER_STAGE[depth]
    out_channels = resnet_out_channels(depth, base_width)
    stage_in = base_width if in_channels is None else in_channels
    if width_per_group is None:
        width_per_group = base_width // num_groups
    bottleneck_channels = num_groups * width_per_group

    stages = []
    for idx in range(_num_stages(out_features)):
        num_blocks = blocks_per_stage[idx]
        dilation = res5_dilation if idx == 3 else 1
        first_stride = 1 if idx == 0 or dilation == 2 else 2
        kwargs = dict(
            stride_per_block=[first_stride] + [1] * (num_blocks - 1),
            in_channels=stage_in,
            out_channels=out_channels[idx],
            norm=norm,
        )
        if bottleneck:
            kwargs.update(
                bottleneck_channels=bottleneck_channels * 2**idx,
                stride_in_1x1=stride_in_1x1,
                num_groups=num_groups,
                dilation=dilation,
            )
        block_class = BottleneckBlock if bottleneck else BasicBlock
        stages.append(ResNet.make_stage(block_class, num_blocks, **kwargs))
        stage_in = out_channels[idx]
    return stages
