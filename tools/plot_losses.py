#!/usr/bin/env python
"""Plot the loss curves of a training run from its ``metrics.json``.

Two panels: the detector's own losses (``loss_cls``, ``loss_box_reg``, ...,
and ``total_loss``) and the distillation terms. Distillation keys are
recognised by the core's naming, ``loss_<method>[_<term>]_<level>`` with a
level such as ``p3``; ``--per-level`` keeps one curve per key, the default sums
each term over its levels (``loss_mkd_fea_p3 + loss_mkd_fea_p4 + ...`` is
plotted as ``loss_mkd_fea``)::

    python tools/plot_losses.py output/mkd/metrics.json --output output/mkd/losses.png
    python tools/plot_losses.py output/dfmsd/stage2/metrics.json --per-level --log-y

The values are those detectron2 wrote: medians over the writer's window.
When a run was resumed, the last value written for an iteration wins. Every
curve of a panel has its own colour (:func:`distinct_colors`), also with
``--per-level``'s many curves.
"""
import argparse
import json
import os
import re
import sys
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

LEVEL_SUFFIX = re.compile(r"^(loss_.+)_(p\d+)$")

Series = Dict[str, Tuple[List[int], List[float]]]


def read_metrics(path: str) -> List[dict]:
    """The records of a detectron2 ``metrics.json`` (one JSON object per line), in order."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist (a run's metrics.json is in its train.output_dir).")
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number} is not JSON: {e}") from e
    return records


def is_distillation_key(key: str) -> bool:
    """True for ``loss_<method>..._<level>`` keys (the distillation core's naming)."""
    return LEVEL_SUFFIX.match(key) is not None


def loss_series(records: Sequence[dict], per_level: bool = False) -> Tuple[Series, Series]:
    """Split the loss curves of ``records`` into (detection, distillation) series.

    Args:
        records: ``metrics.json`` records; records without losses (evaluation) are skipped.
        per_level: keep one distillation curve per level instead of summing levels.

    Returns:
        two dicts name -> (iterations, values), sorted by iteration.
    """
    # iteration -> name -> value; later records overwrite earlier ones (resumed runs)
    detection: Dict[str, Dict[int, float]] = defaultdict(dict)
    distillation: Dict[str, Dict[int, float]] = defaultdict(dict)
    for record in records:
        if "iteration" not in record:
            continue
        it = int(record["iteration"])
        summed: Dict[str, float] = defaultdict(float)
        for key, value in record.items():
            if not isinstance(value, (int, float)):
                continue
            match = LEVEL_SUFFIX.match(key)
            if match:
                summed[key if per_level else match.group(1)] += float(value)
            elif key.startswith("loss_") or key == "total_loss":
                detection[key][it] = float(value)
        for name, value in summed.items():
            distillation[name][it] = value

    def _sorted(table: Dict[str, Dict[int, float]]) -> Series:
        out = {}
        for name in sorted(table):
            iters = sorted(table[name])
            out[name] = (iters, [table[name][i] for i in iters])
        return out

    return _sorted(detection), _sorted(distillation)


# qualitative colormaps, in the order their colours are handed out: 10, then 20, then 60 colours
_QUALITATIVE = (("tab10",), ("tab20",), ("tab20", "tab20b", "tab20c"))


def distinct_colors(n: int) -> List[tuple]:
    """``n`` RGBA colours, no two alike: matplotlib's default cycle (tab10) up to 10, tab20 up
    to 20, tab20 + tab20b + tab20c up to 60, beyond that ``n`` evenly spaced hues. (The
    default colour cycle repeats after 10 curves: a per-level plot has 15 or more.)"""
    for names in _QUALITATIVE:
        colors = [tuple(c) for name in names for c in matplotlib.colormaps[name].colors]
        if n <= len(colors):
            return colors[:n]
    hsv = np.stack([np.arange(n) / n, np.full(n, 0.85), np.full(n, 0.85)], axis=1)
    return [(*rgb, 1.0) for rgb in matplotlib.colors.hsv_to_rgb(hsv).tolist()]


def loss_figure(detection: Series, distillation: Series, log_y: bool = False):
    """The figure of :func:`plot_losses`: one panel per non-empty group, a colour per curve."""
    if not detection and not distillation:
        raise ValueError("No loss values to plot (is this the metrics.json of a training run?)")
    panels = [(n, s) for n, s in (("detection", detection), ("distillation", distillation)) if s]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.4), squeeze=False)
    for ax, (name, series) in zip(axes[0], panels):
        for color, (key, (iters, values)) in zip(distinct_colors(len(series)), series.items()):
            marker = "o" if len(iters) < 10 else None
            ax.plot(iters, values, label=key, marker=marker, linewidth=1.4, color=color)
        ax.set_title(f"{name} losses")
        ax.set_xlabel("iteration")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss (weighted, as summed into total_loss)")
        if log_y:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, ncol=1 if len(series) <= 12 else 2)
    return fig


def plot_losses(
    detection: Series,
    distillation: Series,
    output: str,
    title: str = "",
    log_y: bool = False,
) -> str:
    """Draw the two panels into the PNG file ``output``; returns its path."""
    return save_figure(loss_figure(detection, distillation, log_y), output, title)


def save_figure(fig, output: str, title: str = "") -> str:
    """Title, tight layout, PNG at 100 dpi into ``output`` (folders made); closes ``fig``."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", help="a run's metrics.json")
    parser.add_argument(
        "--output", default=None, help="PNG path (default: losses.png beside metrics.json)"
    )
    parser.add_argument("--per-level", action="store_true", help="one curve per FPN level")
    parser.add_argument("--log-y", action="store_true", help="logarithmic loss axis")
    parser.add_argument("--title", default=None, help="figure title (default: the run folder)")
    args = parser.parse_args(argv)
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(args.metrics)), "losses.png")
    title = args.title if args.title is not None else os.path.basename(
        os.path.dirname(os.path.abspath(args.metrics))
    )
    detection, distillation = loss_series(read_metrics(args.metrics), per_level=args.per_level)
    path = plot_losses(detection, distillation, output, title=title, log_y=args.log_y)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"plot_losses: {e}")
